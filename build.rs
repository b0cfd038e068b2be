//! Rebuild when a static asset is added or removed: include_dir tracks the files it embeds,
//! not the directory listing.
fn main() {
    println!("cargo:rerun-if-changed=static");
}
