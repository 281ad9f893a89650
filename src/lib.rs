//! schedulight: schedules and runs BigBlueButton meetings and Greenlight rooms.

pub mod api;
pub mod app;
pub mod bbb;
pub mod bot;
pub mod callbacks;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod declare;
pub mod docs;
pub mod domain;
pub mod greenlight;
pub mod mail;
pub mod migrate;
pub mod scheduler;
pub mod service;
pub mod store;
pub mod streaming;
pub mod telemetry;
pub mod testkit;
