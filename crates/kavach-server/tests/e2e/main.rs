//! End-to-end tests: the real `kavach` binary on a free port, over HTTP, on SQLite
//! and PostgreSQL. One integration-test binary, one file per capability (the kernel,
//! each capability, the CLI, operations) and per cross-cutting check (crash safety,
//! the OpenAPI fuzzer); the harness starts servers and databases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing, clippy::string_slice, reason = "tests")]

mod agents;
mod anonymous;
mod api_key;
mod cli;
mod crash_safety;
mod email_otp;
mod email_password;
mod fields;
mod harness;
mod kernel;
mod magic_link;
mod mcp;
mod migration;
mod oauth;
mod one_tap;
mod openapi_fuzz;
mod ops;
mod organization;
mod passkey;
mod phone_number;
mod siwe;
mod smtp;
mod two_factor;
mod username;

use harness::*;
use kavach_testkit::dual;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const NO_VERIFY: (&str, &str) = ("KAVACH_REQUIRE_EMAIL_VERIFICATION", "false");
