//! Python virtualenvs with pinned third-party test requirements, created once and reused
//! across test runs:
//! * the test venv (`tests/third_party/requirements.txt`, small client libraries):
//!   `$SCHEDULIGHT_TEST_VENV` if set, else `<CARGO_TARGET_DIR or ./target>/test-venv`;
//! * the Synapse venv (`tests/third_party/synapse-requirements.txt`, the Matrix homeserver of
//!   [`crate::testkit::synapse`] and matrix-nio; ~280 MB, so only tests that need it pay for it):
//!   `$SCHEDULIGHT_SYNAPSE_VENV` if set, else `<CARGO_TARGET_DIR or ./target>/synapse-venv`.
//!
//! A venv is (re)installed when it is missing or its requirements file changed; a lock file
//! keeps parallel test binaries from installing at the same time. Programs run with argv only.
//! The venv is made with `$SCHEDULIGHT_PYTHON -m venv` (default `python3`); packages come from
//! PyPI, hash-pinned, wheels only.

use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

/// File inside the venv that records which requirements it was built from.
const STAMP: &str = ".schedulight-requirements.sha256";

#[derive(Debug, thiserror::Error)]
pub enum VenvError {
    #[error("{what} ({path}): {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "`{program}` failed ({status}): {stderr}\n(hint: Debian needs the python3-venv package for `python3 -m venv`)"
    )]
    Command {
        program: String,
        status: String,
        stderr: String,
    },
}

/// A ready virtualenv.
#[derive(Debug, Clone)]
pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The venv's interpreter.
    pub fn python(&self) -> PathBuf {
        if cfg!(windows) {
            self.dir.join("Scripts").join("python.exe")
        } else {
            self.dir.join("bin").join("python")
        }
    }

    /// `python <script> <args…>` with this venv's interpreter.
    pub fn command(&self, script: impl AsRef<Path>) -> Command {
        let mut cmd = Command::new(self.python());
        cmd.arg(script.as_ref());
        cmd
    }
}

/// The crate root, where `tests/third_party/` lives.
pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/third_party/requirements.txt`.
pub fn requirements_file() -> PathBuf {
    manifest_dir()
        .join("tests")
        .join("third_party")
        .join("requirements.txt")
}

/// `tests/third_party/synapse-requirements.txt` (generated from `synapse-requirements.in`).
pub fn synapse_requirements_file() -> PathBuf {
    manifest_dir()
        .join("tests")
        .join("third_party")
        .join("synapse-requirements.txt")
}

/// Where the test venv lives (see the module docs).
pub fn venv_dir() -> PathBuf {
    venv_location("SCHEDULIGHT_TEST_VENV", "test-venv")
}

/// Where the Synapse venv lives (see the module docs).
pub fn synapse_venv_dir() -> PathBuf {
    venv_location("SCHEDULIGHT_SYNAPSE_VENV", "synapse-venv")
}

/// `$<env_var>` if set, else `<CARGO_TARGET_DIR or ./target>/<default_name>`.
fn venv_location(env_var: &str, default_name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os(env_var).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir().join("target"));
    target.join(default_name)
}

/// The test venv, created or updated as needed.
pub fn test_venv() -> Result<Venv, VenvError> {
    ensure_venv(&venv_dir(), &requirements_file())
}

/// The Synapse venv, created or updated as needed (the first install takes ~45 s).
pub fn synapse_venv() -> Result<Venv, VenvError> {
    ensure_venv(&synapse_venv_dir(), &synapse_requirements_file())
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> VenvError {
    let path = path.to_path_buf();
    move |source| VenvError::Io { what, path, source }
}

/// Make `dir` a venv with `requirements` installed; cheap when it already is.
pub fn ensure_venv(dir: &Path, requirements: &Path) -> Result<Venv, VenvError> {
    let wanted =
        fs::read(requirements).map_err(io_err("cannot read requirements", requirements))?;
    let wanted = crate::bbb::checksum::hex(&Sha256::digest(&wanted));
    let venv = Venv {
        dir: dir.to_path_buf(),
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(io_err("cannot create directory", parent))?;
    let lock_path = dir.with_extension("lock");
    let lock = File::create(&lock_path).map_err(io_err("cannot create lock file", &lock_path))?;
    // Held until `lock` drops at the end of this function.
    lock.lock().map_err(io_err("cannot lock", &lock_path))?;
    let stamp = dir.join(STAMP);
    if venv.python().exists() && fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == wanted) {
        return Ok(venv);
    }
    if !venv.python().exists() {
        let python = std::env::var("SCHEDULIGHT_PYTHON").unwrap_or_else(|_| "python3".into());
        run(Command::new(&python).arg("-m").arg("venv").arg(dir))?;
    }
    run(Command::new(venv.python())
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
        ])
        .args(["--require-hashes", "--only-binary", ":all:", "-r"])
        .arg(requirements))?;
    fs::write(&stamp, &wanted).map_err(io_err("cannot write stamp", &stamp))?;
    Ok(venv)
}

fn run(cmd: &mut Command) -> Result<(), VenvError> {
    let program = format!("{:?}", cmd.get_program());
    let out = cmd.output().map_err(|source| VenvError::Io {
        what: "cannot start",
        path: PathBuf::from(cmd.get_program()),
        source,
    })?;
    if out.status.success() {
        return Ok(());
    }
    Err(VenvError::Command {
        program,
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}
