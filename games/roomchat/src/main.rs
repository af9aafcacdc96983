//! Room chat+: a launcher plugin that gives the room screen a second chat
//! panel. It speaks the plugin protocol of docs/PLUGINS.md: JSON lines in
//! on standard input, JSON lines out on standard output.
//!
//! `input` (what the player typed after `/p`) is sent to the other members
//! who run the plugin as `{"text": ...}` and shown as the player's own
//! line; their messages come back as `plugin_message` and are shown with
//! the sender's name.

use std::io::{BufRead, Write};

use serde_json::{Value, json};

/// Longest message sent, in characters.
const MAX_CHARS: usize = 500;

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut me = String::from("me");
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(message) = serde_json::from_str::<Value>(&line) else { continue };
        let replies = handle(&mut me, &message);
        for reply in replies {
            if writeln!(out, "{reply}").and_then(|()| out.flush()).is_err() {
                return;
            }
        }
    }
}

/// The lines to write for one message from the launcher.
fn handle(me: &mut String, message: &Value) -> Vec<Value> {
    let text_of = |v: &Value| v.get("text").and_then(Value::as_str).map(str::to_owned);
    match message.get("type").and_then(Value::as_str) {
        Some("hello") => {
            if let Some(player) = message.get("player").and_then(Value::as_str) {
                *me = player.to_owned();
            }
            vec![json!({"type": "ready"})]
        }
        Some("room_joined") => {
            let members = names(message.get("members"));
            vec![show(format!("chat+ is on; here: {members}"))]
        }
        Some("members") => vec![show(format!("here now: {}", names(message.get("members"))))],
        Some("room_left") => vec![show("chat+ is off".to_owned())],
        Some("input") => {
            let Some(text) = text_of(message) else { return Vec::new() };
            let text: String = text.chars().filter(|c| !c.is_control()).take(MAX_CHARS).collect();
            if text.trim().is_empty() {
                return Vec::new();
            }
            vec![json!({"type": "send", "data": {"text": text}}), show(format!("{me}: {text}"))]
        }
        Some("plugin_message") => {
            let from = message.get("from").and_then(Value::as_str).unwrap_or("?");
            match message.get("data").and_then(text_of) {
                Some(text) => vec![show(format!("{from}: {text}"))],
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

fn show(text: String) -> Value {
    json!({"type": "show", "text": text})
}

fn names(members: Option<&Value>) -> String {
    let names: Vec<&str> =
        members.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_sent_and_echoed_and_messages_are_shown_with_their_sender() {
        let mut me = String::new();
        let hello = json!({"type": "hello", "player": "ann"});
        assert_eq!(handle(&mut me, &hello), vec![json!({"type": "ready"})]);
        let sent = handle(&mut me, &json!({"type": "input", "text": "hi"}));
        assert_eq!(sent[0], json!({"type": "send", "data": {"text": "hi"}}));
        assert_eq!(sent[1], show("ann: hi".into()));
        let heard =
            handle(&mut me, &json!({"type": "plugin_message", "from": "bob", "data": {"text": "yo"}}));
        assert_eq!(heard, vec![show("bob: yo".into())]);
        assert!(handle(&mut me, &json!({"type": "plugin_message", "data": 3})).is_empty());
    }
}
