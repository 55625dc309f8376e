//! Widgets shared by several pages.

pub mod badges;
#[cfg(feature = "full")]
pub mod copy_field;
pub mod forms;
#[cfg(feature = "full")]
pub mod guard;
pub mod health_badge;
#[cfg(feature = "full")]
pub mod institution_actions;
pub mod lang_switch;
#[cfg(feature = "full")]
pub mod ledger_report;
pub mod nav;
pub mod network;
#[cfg(feature = "full")]
pub mod one_time_link;
#[cfg(feature = "full")]
pub mod session_bits;
pub mod states;
pub mod user_menu;
