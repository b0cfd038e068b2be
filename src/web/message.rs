//! A page that says one thing, with a link home: outcomes and refusals without a form.

use askama::Template;

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    link: &'a str,
    link_text: &'a str,
}

impl<'a> MessagePage<'a> {
    /// A page that says one thing, with a link home.
    pub fn home(title: &'a str, message: &'a str) -> Self {
        Self {
            title,
            message,
            link: "/",
            link_text: "Back to sotto",
        }
    }
}
