//! The Matrix chat-ops bot: who may talk to it ([`access`]), the scheduler's room notices
//! ([`notices`]) and the Matrix client that carries both ([`matrix`]).

pub mod access;
pub mod front;
pub mod matrix;
pub mod notices;
