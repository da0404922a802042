//! End-to-end tests: the committed bundles run on real engines.
//!
//! `scripts/test.sh` installs and starts the engines (`scripts/engines.sh`): Docker Engine with
//! Compose v2, Podman (systemd as PID 1, `kube play`), and Debian's `docker-registry`. Every image
//! is built from Debian packages (`tests/e2e/images/`): Redis is Debian's real redis-server; MongoDB
//! and Lucia's AgentHost are stand-ins that honour the real images' contracts (see their headers).
//!
//! Without the engines these tests print why and pass, so `cargo test` works on a laptop; under
//! the README's test command (`LUCIAC_REQUIRE_ENGINES=1`) a missing engine is a failure.
//! The tests take one lock: two stacks never compete for the machine's two cores, and the
//! measured start times are the bundles', not the scheduler's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../common/mod.rs"]
mod common;

mod compose;
mod engine;
mod forge;
mod forge_systemd;
mod kube;
mod registry;
mod systemd;
mod systemd_host;
