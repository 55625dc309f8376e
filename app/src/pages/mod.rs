//! One module per route.

pub mod account;
pub mod audit;
pub mod certificates;
pub mod dashboard;
pub mod devices;
pub mod help;
pub mod home;
pub mod institution;
pub mod institutions;
pub mod invite;
pub mod login;
pub mod not_found;
pub mod people;
pub mod reset;
pub mod room;
pub mod rounds;
pub mod sessions;
pub mod status;
pub mod verify;
