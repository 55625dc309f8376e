//! Widgets shared by several pages.

pub mod health_badge;
pub mod lang_switch;
