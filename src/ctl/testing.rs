//! `warren ctl`'s test-broker commands: thin calls to `/api/warren/` (see
//! `management::control`), so a shell script or a CI step can reset the broker, read its
//! state and inject faults as a test suite does over HTTP.

use super::client::Client;
use super::format::Output;
use super::{Command, Done, Failure, exit, io_failure};
use serde_json::{Value, json};
use std::io::{Read, Write};

pub(super) fn run(api: &Client, out: &Output, command: &Command) -> Done {
    match command {
        Command::Reset => {
            out.action("Resetting the broker to its state at start ...");
            api.post("/api/warren/reset", b"")
        }
        Command::Snapshot => print(&api.get("/api/warren/snapshot")?),
        Command::IsolatedVhost => print(&json_answer(
            api.post_for("/api/warren/isolated-vhosts", b"")?,
        )?),
        Command::InjectFault { plan } => {
            let plan = if plan == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(io_failure)?;
                s
            } else {
                plan.clone()
            };
            if let Err(e) = serde_json::from_str::<Value>(&plan) {
                return Err(Failure::new(
                    exit::DATAERR,
                    format!("the fault plan is not JSON: {e}"),
                ));
            }
            out.action("Injecting a fault plan ...");
            let made = json_answer(api.post_for("/api/warren/faults", plan.as_bytes())?)?;
            print(&made)
        }
        Command::ClearFaults => {
            out.action("Clearing every fault ...");
            api.delete("/api/warren/faults", &[])
        }
        Command::SimulateAlarm { resource, state } => {
            out.action(&format!(
                "Turning the simulated {resource} alarm {state} ..."
            ));
            api.put(
                &format!("/api/warren/alarms/{resource}"),
                &json!({ "raised": state == "on" }),
            )
        }
        Command::Crash => {
            out.action("Crashing the broker's data and recovering it ...");
            api.post("/api/warren/crash", b"")
        }
        _ => Err(Failure::new(exit::SOFTWARE, "not a test-broker command")),
    }
}

fn json_answer(body: Vec<u8>) -> Result<Value, Failure> {
    serde_json::from_slice(&body)
        .map_err(|e| Failure::new(exit::SOFTWARE, format!("invalid JSON answer: {e}")))
}

fn print(v: &Value) -> Done {
    let text =
        serde_json::to_string_pretty(v).map_err(|e| Failure::new(exit::SOFTWARE, e.to_string()))?;
    writeln!(std::io::stdout().lock(), "{text}").map_err(io_failure)
}
