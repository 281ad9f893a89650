//! The domain: operations, outcomes, definitions and validated values. No I/O here.

pub mod ids;
pub mod meeting;
pub mod notice;
pub mod operation;
pub mod outcome;
pub mod retention;
pub mod server;

pub use ids::{BbbMeetingId, Email, InvalidValue, MeetingId, RecordId, RoomRef, Secret, ServerId};
pub use meeting::{MeetingPhase, MeetingSpec, Owner, Recipient, StepRecord};
pub use notice::{Channel, NoticeKind};
pub use operation::{Actor, Operation, Scope};
pub use outcome::{JoinLinks, MeetingView, OpError, Outcome, RunningMeeting, ServerMeetings};
pub use server::{BbbUrl, ChecksumAlgorithm, ServerSpec, ServerSummary};
