//! `schedulight mail preview|list|delete|purge`: look at a mail before it goes out, and manage
//! the outbox (the original's "todo": list queued / sent / failed, delete one, delete all
//! queued).

use super::args::{MailCommand, MailState};
use super::render::RenderOptions;
use crate::app::App;
use crate::domain::operation::MailFilter;
use crate::domain::{Email, MeetingId, NoticeKind, Operation};
use crate::mail::RenderedMail;
use crate::mail::render::{self, Language, Overrides};
use std::process::ExitCode;

pub(super) async fn run(app: &App, command: MailCommand, json: bool) -> anyhow::Result<ExitCode> {
    let op = match command {
        MailCommand::Preview {
            what,
            meeting,
            to,
            lang,
            kind,
        } => {
            let args = PreviewArgs {
                what,
                meeting,
                to,
                lang,
                kind,
            };
            return preview(app, args, json).await;
        }
        MailCommand::List { state } => Operation::ListMail {
            filter: filter(state),
        },
        MailCommand::Delete { id } => Operation::DeleteMail { id },
        MailCommand::Purge {
            queued,
            failed,
            sent: _,
        } => {
            let state = if queued {
                MailFilter::Pending
            } else if failed {
                MailFilter::Failed
            } else {
                MailFilter::Sent
            };
            Operation::PurgeMail { state }
        }
    };
    Ok(super::execute(app, op, json, RenderOptions::default()).await)
}

fn filter(state: MailState) -> MailFilter {
    match state {
        MailState::Queued => MailFilter::Pending,
        MailState::Sent => MailFilter::Sent,
        MailState::Failed => MailFilter::Failed,
        MailState::All => MailFilter::All,
    }
}

struct PreviewArgs {
    what: String,
    meeting: String,
    to: Option<String>,
    lang: Option<String>,
    kind: Option<String>,
}

/// Render one mail as the sender would now, and print it.
async fn preview(app: &App, args: PreviewArgs, json: bool) -> anyhow::Result<ExitCode> {
    let meeting: MeetingId = args
        .meeting
        .parse()
        .map_err(|e| anyhow::anyhow!("--meeting: {e}"))?;
    let to = args
        .to
        .as_deref()
        .map(str::parse::<Email>)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--to: {e}"))?;
    let language = args
        .lang
        .as_deref()
        .map(|l| Language::parse(l).ok_or_else(|| anyhow::anyhow!("--lang {l:?}: use en or de")))
        .transpose()?;
    let (kind, template) = what_to_render(&args.what, args.kind.as_deref())?;
    let overrides = Overrides { template, language };
    let rendered = async {
        let request = render::preview_request(&app.service, kind, &meeting, to.as_ref()).await?;
        render::render_request(&app.service, &app.config.mail, &request, &overrides).await
    }
    .await;
    match rendered {
        Ok(mail) => {
            print_mail(&mail, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if json {
                let v =
                    serde_json::json!({ "error": e.to_string(), "permanent": e.is_permanent() });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                eprintln!("error: {e}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A kind name, or a template file (its kind from `--kind`, the original's file name, or
/// owner_info).
fn what_to_render(what: &str, kind: Option<&str>) -> anyhow::Result<(NoticeKind, Option<String>)> {
    let parse_kind = |k: &str| {
        NoticeKind::parse(k)
            .filter(|k| k.channel() == crate::domain::Channel::Mail)
            .ok_or_else(|| anyhow::anyhow!("{k:?} is not a mail kind; use one of {}", mail_kinds()))
    };
    if let Some(k) = NoticeKind::parse(what) {
        if kind.is_some() {
            anyhow::bail!("--kind goes with a template file, not with a kind");
        }
        return Ok((parse_kind(k.as_str())?, None));
    }
    let looks_like_file = what.ends_with(".j2") || what.contains('.');
    if !looks_like_file {
        anyhow::bail!(
            "{what:?} is neither a mail kind ({}) nor a template file name",
            mail_kinds()
        );
    }
    let kind = match kind {
        Some(k) => parse_kind(k)?,
        None => NoticeKind::ALL
            .into_iter()
            .find(|k| render::seed_file_name(*k) == Some(what))
            .unwrap_or(NoticeKind::OwnerInfo),
    };
    Ok((kind, Some(what.to_string())))
}

fn mail_kinds() -> String {
    NoticeKind::ALL
        .into_iter()
        .filter(|k| k.channel() == crate::domain::Channel::Mail)
        .map(NoticeKind::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_mail(mail: &RenderedMail, json: bool) -> anyhow::Result<()> {
    let mailbox = |m: &crate::mail::Mailbox| match &m.name {
        Some(n) => format!("{n:?} <{}>", m.email),
        None => format!("<{}>", m.email),
    };
    if json {
        let who = |m: &crate::mail::Mailbox| serde_json::json!({ "name": m.name, "email": m.email.as_str() });
        let v = serde_json::json!({
            "from": who(&mail.from),
            "to": who(&mail.to),
            "subject": mail.subject,
            "message_id": mail.message_id,
            "text": mail.text,
            "html": mail.html,
            "calendar": mail.calendar.as_ref().map(|c| serde_json::json!({
                "method": c.method.as_str(),
                "ics": c.ics,
            })),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("From: {}", mailbox(&mail.from));
    println!("To: {}", mailbox(&mail.to));
    println!("Subject: {}", mail.subject);
    println!("Message-ID: {}", mail.message_id);
    println!("\n--- text/plain ---\n{}", mail.text.trim_end());
    if let Some(html) = &mail.html {
        println!("\n--- text/html ---\n{}", html.trim_end());
    }
    if let Some(c) = &mail.calendar {
        println!(
            "\n--- text/calendar; method={} ---\n{}",
            c.method.as_str(),
            c.ics.trim_end()
        );
    }
    Ok(())
}
