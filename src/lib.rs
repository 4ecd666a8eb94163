//! outcry: gives every customer who speaks up on social media exactly one owner inside the
//! company.
//!
//! The crate is split along one line: everything from raw bytes to a routing decision
//! ([`pipeline`]) is pure and synchronous; Kafka ([`kafka`]), Redis ([`claim`]) and HTTP
//! ([`http`]) live at the edges and are wired together by [`worker`].
//!
//! Imports run one way, from the edges down to the core. Each configuration section is defined
//! by the module that owns it; [`config`] assembles them into the file (the core never imports
//! it), and [`settings`] holds the value types they share.

pub mod bench;
pub mod claim;
pub mod cli;
pub mod config;
pub mod demo;
pub mod event;
pub mod feedback;
pub mod http;
pub mod identity;
pub mod incident;
pub mod intent;
pub mod kafka;
pub mod learn;
pub mod normalize;
pub mod pipeline;
pub mod reload;
pub mod replay;
pub mod route;
pub mod settings;
pub mod sla;
pub mod telemetry;
pub mod worker;
