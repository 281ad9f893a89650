//! The meeting scheduler. [`plan`] is its pure part: when a meeting runs and which steps happen
//! around each run, with no I/O and no clock of its own (callers pass "now").

pub mod engine;
pub mod plan;

pub use plan::{
    Decision, Misfire, Occurrence, PlanDefaults, PlanError, PlannedStep, Replan, RoomAction,
    StepChange, StepKind, StepScope, check_definition, decide, expire_if_no_user_joined_minutes,
    meeting_zone, occurrences, replan, timeline,
};
