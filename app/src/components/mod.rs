//! Widgets shared by several pages.

pub mod badges;
pub mod copy_field;
pub mod forms;
pub mod guard;
pub mod health_badge;
pub mod institution_actions;
pub mod lang_switch;
pub mod ledger_report;
pub mod nav;
pub mod network;
pub mod one_time_link;
pub mod session_bits;
pub mod states;
pub mod user_menu;
