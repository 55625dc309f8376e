//! One module per route. Those marked `full` are not in the first-load
//! shell (see `crate::shell`).

#[cfg(feature = "full")]
pub mod account;
#[cfg(feature = "full")]
pub mod audit;
#[cfg(feature = "full")]
pub mod certificates;
#[cfg(feature = "full")]
pub mod dashboard;
#[cfg(feature = "full")]
pub mod devices;
#[cfg(feature = "full")]
pub mod help;
pub mod home;
#[cfg(feature = "full")]
pub mod institution;
#[cfg(feature = "full")]
pub mod institutions;
pub mod invite;
pub mod login;
pub mod not_found;
#[cfg(feature = "full")]
pub mod people;
pub mod reset;
#[cfg(feature = "full")]
pub mod room;
#[cfg(feature = "full")]
pub mod rounds;
#[cfg(feature = "full")]
pub mod sessions;
pub mod status;
#[cfg(feature = "full")]
pub mod verify;
