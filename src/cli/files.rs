//! `plan`, `apply` and `export`: declarative files in the original's format.

use super::args::{ApplyArgs, ExportArgs, FileArgs, PlanArgs};
use super::{local_actor, open_app};
use crate::app::App;
use crate::declare::{
    self, Current, Declaration, LoadSettings, Plan, PlanError, PlanOptions, Prune,
};
use crate::domain::Actor;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit codes of `plan`: nothing to do, an error, changes to apply.
const NO_CHANGES: u8 = 0;
const ERROR: u8 = 1;
const CHANGES: u8 = 2;

fn options(what: &FileArgs) -> anyhow::Result<PlanOptions> {
    let prune: Option<Prune> = what
        .prune
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    Ok(PlanOptions {
        prune: prune.unwrap_or_default(),
        retry_failed: what.retry_failed,
    })
}

fn settings(app: &App) -> LoadSettings {
    LoadSettings {
        csv: app.config.files.csv.clone(),
    }
}

fn load(app: &App, files: &[PathBuf]) -> anyhow::Result<Declaration> {
    if files.is_empty() {
        anyhow::bail!("name at least one file (YAML in the original's format, or CSV)");
    }
    declare::load(files, &settings(app))
        .map_err(|e| anyhow::anyhow!("nothing was applied; the files have problems:\n{e}"))
}

async fn current(app: &App) -> anyhow::Result<Current> {
    Ok(Current::read(app.store.as_ref(), app.config.servers.keys().cloned()).await?)
}

fn fail(e: impl std::fmt::Display, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::json!({ "error": e.to_string() }));
    } else {
        eprintln!("error: {e}");
    }
    ExitCode::from(ERROR)
}

pub async fn plan(config: Option<&Path>, args: PlanArgs, json: bool) -> ExitCode {
    match plan_inner(config, args, json).await {
        Ok(code) => code,
        Err(e) => fail(format!("{e:#}"), json),
    }
}

async fn plan_inner(config: Option<&Path>, args: PlanArgs, json: bool) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let d = load(&app, &args.what.files)?;
    let cur = current(&app).await?;
    let options = options(&args.what)?;
    let plan = declare::plan(&d, &cur, options)
        .map_err(|e| anyhow::anyhow!("the files cannot be applied:\n{e}"))?;
    if let Some(out) = &args.out {
        std::fs::write(out, serde_json::to_vec_pretty(&plan)?)?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", plan.render());
        if let Some(out) = &args.out {
            println!(
                "Saved to {}; `schedulight apply --plan {}` applies exactly this.",
                out.display(),
                out.display()
            );
        }
    }
    Ok(ExitCode::from(if plan.has_changes() {
        CHANGES
    } else {
        NO_CHANGES
    }))
}

pub async fn apply(config: Option<&Path>, args: ApplyArgs, json: bool) -> ExitCode {
    match apply_inner(config, args, json).await {
        Ok(code) => code,
        Err(e) => fail(format!("{e:#}"), json),
    }
}

async fn apply_inner(
    config: Option<&Path>,
    args: ApplyArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let (saved, files, options) = match &args.plan {
        Some(p) => {
            let saved: Plan = serde_json::from_slice(&std::fs::read(p)?)
                .map_err(|e| anyhow::anyhow!("{} is not a saved plan: {e}", p.display()))?;
            let files = saved.files.iter().map(|f| PathBuf::from(&f.name)).collect();
            let options = saved.options;
            (Some(saved), files, options)
        }
        None => (None, args.what.files.clone(), options(&args.what)?),
    };
    let d = load(&app, &files)?;
    if args.dry_run {
        let plan = declare::plan(&d, &current(&app).await?, options)
            .map_err(|e| anyhow::anyhow!("the files cannot be applied:\n{e}"))?;
        if json {
            println!("{}", serde_json::to_string_pretty(&plan)?);
        } else {
            print!("{}", plan.render());
            println!("Dry run: nothing was applied.");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let actor = Actor::admin(format!("file:{}", local_actor()));
    let progress = Progress::new();
    let result = declare::plan_and_apply(
        &app.service,
        &actor,
        app.config.servers.keys().cloned(),
        &d,
        options,
        saved.as_ref(),
        &|done, total| progress.update(done, total),
    )
    .await;
    progress.finish();
    let (plan, report) = match result {
        Ok(x) => x,
        Err(PlanError::Files(e)) => anyhow::bail!("the files cannot be applied:\n{e}"),
        Err(e) => anyhow::bail!("{e}"),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "plan": plan, "applied": report }))?
        );
    } else if report.applied.is_empty() {
        print!("{}", plan.render());
    } else {
        print!("{}", report.render());
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(ERROR)
    })
}

pub async fn export(
    config: Option<&Path>,
    args: ExportArgs,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let app = open_app(config).await?;
    let cur = current(&app).await?;
    let secrets = args.secrets_dir.clone().unwrap_or_else(|| {
        let mut name = args.out.file_name().unwrap_or_default().to_os_string();
        name.push(".secrets");
        args.out.with_file_name(name)
    });
    let exported = declare::export::export(&cur, &args.out, &secrets)?;
    std::fs::write(&args.out, &exported.yaml)?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "file": args.out,
                "servers": exported.servers,
                "meetings": exported.meetings,
                "secret_files": exported.secret_files,
            })
        );
    } else {
        println!(
            "Wrote {} server(s) and {} meeting(s) to {}{}.",
            exported.servers,
            exported.meetings,
            args.out.display(),
            if exported.secret_files.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} secret(s) to {} (mode 0600)",
                    exported.secret_files.len(),
                    secrets.display()
                )
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A progress bar on stderr while many meetings are applied, only on a terminal.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new() -> Self {
        use std::io::IsTerminal;
        Self(std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::hidden();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} meetings {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        }))
    }

    fn update(&self, done: usize, total: usize) {
        if let Some(bar) = &self.0 {
            if total < 100 {
                return;
            }
            if bar.is_hidden() {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
