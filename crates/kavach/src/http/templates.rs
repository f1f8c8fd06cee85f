//! The hosted pages' templates (minijinja, HTML auto-escaping). Built-in ones ship with
//! the crate; a file of the same name in `<templates_dir>/pages/` replaces one, so an
//! operator can restyle every page (`layout.html`) or reword any of them (sign-in,
//! consent, device code, authorized apps, messages, errors). A broken template is a configuration error at startup.

use kavach_core::Result;
use std::path::Path;

const BUILTIN: &[(&str, &str)] = &[
    ("layout.html", include_str!("../../templates/pages/layout.html")),
    ("sign_in.html", include_str!("../../templates/pages/sign_in.html")),
    ("consent.html", include_str!("../../templates/pages/consent.html")),
    ("error.html", include_str!("../../templates/pages/error.html")),
    ("device.html", include_str!("../../templates/pages/device.html")),
    ("device_confirm.html", include_str!("../../templates/pages/device_confirm.html")),
    ("grants.html", include_str!("../../templates/pages/grants.html")),
    ("message.html", include_str!("../../templates/pages/message.html")),
    ("two_factor.html", include_str!("../../templates/pages/two_factor.html")),
];

pub struct PageTemplates {
    env: minijinja::Environment<'static>,
}

impl PageTemplates {
    /// The built-in templates, overridden by files in `dir` (the `pages` folder of the
    /// templates directory) when given.
    pub fn load(dir: Option<&Path>) -> Result<Self> {
        let mut env = minijinja::Environment::new();
        kavach_core::email::add_templates(&mut env, BUILTIN, dir, "page")?;
        Ok(PageTemplates { env })
    }

    /// Render a template; a failure is logged and shown as a plain message (never a
    /// half-written page).
    pub fn render(&self, name: &str, ctx: minijinja::Value) -> String {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(error = %e, template = name, "page template failed to render");
                String::from("<p>This page cannot be shown right now.</p>")
            }
        }
    }

    /// A whole page: `body` (already-safe HTML) inside the layout.
    pub fn page(&self, app_name: &str, title: &str, body: &str) -> String {
        self.render("layout.html", minijinja::context! { app_name, title, body => minijinja::Value::from_safe_string(body.to_owned()) })
    }
}
