//! The Conclave app: a Leptos client-side page that shows this tab's coordination with every
//! other open tab of the app, live.
#![forbid(unsafe_code)]

pub mod app;
pub mod components;
pub mod use_conclave;
pub mod view_model;

pub use app::App;
pub use use_conclave::{
    use_conclave, use_conclave_with_options, AppMessage, UseConclaveOptions, UseConclaveReturn,
    Workspace,
};
