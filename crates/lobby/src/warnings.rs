//! The lobby's recent warnings and errors, kept in memory for the admin
//! pages: a `tracing` layer copies every WARN or ERROR event into a bounded
//! ring.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

/// Warnings kept; older ones are dropped.
const KEPT: usize = 200;

static RECENT: Mutex<VecDeque<Warning>> = Mutex::new(VecDeque::new());

/// One warning as the admin sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Warning {
    pub at: i64,
    pub level: &'static str,
    pub target: String,
    /// The message followed by its fields (`key=value`).
    pub text: String,
}

/// The kept warnings, newest first.
pub fn recent() -> Vec<Warning> {
    RECENT.lock().unwrap_or_else(|p| p.into_inner()).iter().rev().cloned().collect()
}

/// The `tracing` layer that fills [`recent`]; the binary installs it.
#[derive(Debug, Default)]
pub struct WarningsLayer;

impl<S: Subscriber> tracing_subscriber::Layer<S> for WarningsLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        let mut line = text.message;
        if !text.fields.is_empty() {
            line.push(' ');
            line.push_str(&text.fields);
        }
        let warning = Warning {
            at: crate::now(),
            level: if level == Level::ERROR { "error" } else { "warn" },
            target: event.metadata().target().to_owned(),
            text: line.chars().take(1000).collect(),
        };
        let mut recent = RECENT.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(warning);
    }
}

#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={value}", field.name());
        }
    }
}
