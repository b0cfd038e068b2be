//! `sotto models pull` and `rm` against hostile sources and inputs: names with paths, endless
//! redirects, files too large or not models, a disk that fills. Each is refused with one line
//! and leaves no file behind.

use crate::common;
use crate::pull::{dir_arg, models, names_in, text, FILE};

use std::process::Command;
use std::time::Duration;

use common::file_server::FileServer;
use common::process::output_within;

/// The last line of stderr, where the error is.
fn error_line(output: &std::process::Output) -> String {
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "accepted: {stderr}");
    stderr.lines().last().unwrap_or_default().to_owned()
}

#[test]
fn file_names_with_paths_are_refused() {
    let server = FileServer::start();
    let root = tempfile::tempdir().expect("root");
    let dir = root.path().join("models");
    // From the server: a Content-Disposition naming `../escaped.gguf`.
    let output = models(
        &[
            "pull",
            &format!("{}/download", server.base),
            "--models-dir",
            &dir_arg(&dir),
        ],
        &[],
    );
    let line = error_line(&output);
    assert!(
        line.contains("Content-Disposition file name with a path"),
        "{line}"
    );
    assert_eq!(names_in(root.path()), ["models"]);
    assert_eq!(names_in(&dir), Vec::<String>::new());
    // From the URL, percent-encoded: refused before any request.
    for url in ["/files/..%2Fescaped.gguf", "/files/%2Ftmp%2Fescaped.gguf"] {
        let output = models(
            &[
                "pull",
                &format!("{}{url}", server.base),
                "--models-dir",
                &dir_arg(&dir),
            ],
            &[],
        );
        assert!(error_line(&output).contains("not a plain file name"));
    }
    // From the command line.
    let url = format!("{}/files/{FILE}", server.base);
    let output = models(
        &[
            "pull",
            &url,
            "--models-dir",
            &dir_arg(&dir),
            "--name",
            "../x",
        ],
        &[],
    );
    assert!(error_line(&output).contains("--name must be a plain file name"));
    assert_eq!(server.seen().len(), 1, "{:?}", server.seen());
    assert_eq!(names_in(root.path()), ["models"]);
}

#[test]
fn rm_refuses_ids_with_paths_and_unknown_ids() {
    let root = tempfile::tempdir().expect("root");
    let dir = root.path().join("models");
    std::fs::create_dir(&dir).expect("models dir");
    std::fs::write(root.path().join("outside.gguf"), b"GGUF").expect("a file outside");
    std::fs::write(dir.join(".hidden.gguf"), b"GGUF").expect("a hidden file");
    for id in ["../outside", ".hidden", "a/b", "/etc/passwd", ".."] {
        let output = models(&["rm", id, "--models-dir", &dir_arg(&dir)], &[]);
        let line = error_line(&output);
        assert!(line.contains("a model id is a file name"), "{id}: {line}");
        if id.len() > 2 {
            assert!(!line.contains(id), "the refused id is echoed: {line}");
        }
    }
    let output = models(&["rm", "nothing-here", "--models-dir", &dir_arg(&dir)], &[]);
    assert!(error_line(&output).contains("no model `nothing-here`"));
    assert!(root.path().join("outside.gguf").exists());
    assert!(dir.join(".hidden.gguf").exists());
}

#[test]
fn endless_redirects_large_files_and_non_models_are_refused() {
    let server = FileServer::start();
    let root = tempfile::tempdir().expect("root");
    let dir = dir_arg(root.path());

    let output = models(
        &[
            "pull",
            &format!("{}/loop/m.gguf", server.base),
            "--models-dir",
            &dir,
        ],
        &[],
    );
    assert!(error_line(&output).contains("too many redirects"));
    // The first request and five redirects followed, no more.
    assert_eq!(server.seen().len(), 6);

    // 0.01 GB is 10 MB; the file is 98 MB, as its Content-Length says.
    let url = format!("{}/files/{FILE}", server.base);
    let output = models(
        &[
            "pull",
            &url,
            "--models-dir",
            &dir,
            "--max-download-gb",
            "0.01",
        ],
        &[],
    );
    assert!(error_line(&output).contains("larger than --max-download-gb"));

    let output = models(
        &[
            "pull",
            &format!("{}/text/notes.gguf", server.base),
            "--models-dir",
            &dir,
        ],
        &[],
    );
    assert!(error_line(&output).contains("notes.gguf is not a GGUF file"));
    assert_eq!(names_in(root.path()), Vec::<String>::new());
}

/// A disk that fills mid-download (here a file size limit, which fails writes the same way)
/// fails the pull with the write error and leaves no partial file.
#[test]
fn a_full_disk_leaves_no_partial_file() {
    let server = FileServer::start();
    let root = tempfile::tempdir().expect("root");
    let url = format!("{}/files/{FILE}", server.base);
    // SIGXFSZ ignored, so a write past the limit fails with EFBIG instead of killing the
    // process; the limit is in KiB: 10 MiB of a 98 MB file.
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 10240; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_sotto"))
        .args([
            "models",
            "pull",
            &url,
            "--models-dir",
            &dir_arg(root.path()),
        ]);
    let output = output_within(command, Duration::from_secs(120));
    let line = error_line(&output);
    assert!(line.starts_with("error: writing "), "{line}");
    assert!(line.contains("File too large"), "{line}");
    assert_eq!(names_in(root.path()), Vec::<String>::new());
}
