//! `warren ctl`: rabbitmqctl's everyday commands, done over the management HTTP API, so they
//! work against Warren or RabbitMQ from anywhere the API is reachable.
//!
//! Thin by design: each command parses its arguments, makes one or two API calls through
//! [`client`], and prints what rabbitmqctl prints through [`format`]; [`columns`] maps
//! rabbitmqctl's column names onto the API's JSON.
//!
//! Exit codes (sysexits, as rabbitmqctl uses them): 0 done; 64 usage (bad arguments, unknown
//! column); 65 the API refused the input (HTTP 400: a bad pattern, a missing vhost or user
//! in a permission, invalid definitions) or a definitions file is not JSON; 67 no such user;
//! 69 the API is unreachable or the object does not exist (404); 70 the API failed (5xx)
//! or answered something unreadable; 74 a file could not be read or written; 77 login
//! failed or the user may not do this (401, 403).

pub mod client;
pub mod columns;
pub mod format;
mod testing;

use client::{Client, path};
use columns::Listing;
use format::{Formatter, Output};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::Duration;

/// The exit codes above.
pub mod exit {
    pub const USAGE: u8 = 64;
    pub const DATAERR: u8 = 65;
    pub const NOUSER: u8 = 67;
    pub const UNAVAILABLE: u8 = 69;
    pub const SOFTWARE: u8 = 70;
    pub const IOERR: u8 = 74;
    pub const NOPERM: u8 = 77;
}

/// Why a command failed: the exit code and the text for stderr.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
    /// The HTTP status when the API answered.
    pub status: Option<u16>,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
            status: None,
        }
    }

    /// A 404 says only "Not Found"; the command knows what was missing.
    fn not_found(self, code: u8, what: impl FnOnce() -> String) -> Failure {
        if self.status == Some(404) {
            Failure {
                code,
                message: what(),
                status: self.status,
            }
        } else {
            self
        }
    }
}

type Done = Result<(), Failure>;

#[derive(Debug, Clone, clap::Args)]
pub struct CtlArgs {
    /// The management API's base URL (plain HTTP).
    #[arg(
        long,
        env = "WARREN_URL",
        default_value = "http://127.0.0.1:15672",
        global = true
    )]
    pub url: String,

    /// User to log in to the management API as.
    #[arg(
        short = 'u',
        long,
        env = "WARREN_USER",
        default_value = "guest",
        global = true
    )]
    pub username: String,

    /// Password for --username. (No short form: -p is the vhost, as in rabbitmqctl.)
    #[arg(
        long,
        env = "WARREN_PASSWORD",
        default_value = "guest",
        hide_env_values = true,
        global = true
    )]
    pub password: String,

    /// The virtual host a command works in (rabbitmqctl's -p).
    #[arg(short = 'p', long, default_value = "/", global = true)]
    pub vhost: String,

    /// Output format of list commands.
    #[arg(long, value_enum, default_value = "table", global = true)]
    pub formatter: Formatter,

    /// Print no informational lines ("Listing queues ...").
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,

    /// Print no header row above a table.
    #[arg(long, global = true)]
    pub no_table_headers: bool,

    /// Seconds to wait for the API.
    #[arg(short = 't', long, default_value_t = 60.0, global = true)]
    pub timeout: f64,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, clap::Subcommand)]
#[command(rename_all = "snake_case")]
pub enum Command {
    /// Queues in the vhost; columns default to: name messages.
    ListQueues {
        columns: Vec<String>,
    },
    /// Exchanges in the vhost; columns default to: name type.
    ListExchanges {
        columns: Vec<String>,
    },
    /// Bindings in the vhost.
    ListBindings {
        columns: Vec<String>,
    },
    /// Connections; columns default to: user peer_host peer_port state.
    ListConnections {
        columns: Vec<String>,
    },
    /// Consumers in the vhost.
    ListConsumers {
        columns: Vec<String>,
    },
    /// Users and their tags.
    ListUsers {
        columns: Vec<String>,
    },
    /// Virtual hosts.
    ListVhosts {
        columns: Vec<String>,
    },
    /// Users' permissions in the vhost.
    ListPermissions {
        columns: Vec<String>,
    },
    /// Users' topic permissions in the vhost.
    ListTopicPermissions {
        columns: Vec<String>,
    },
    /// Policies in the vhost.
    ListPolicies {
        columns: Vec<String>,
    },
    /// Create a user (no tags).
    AddUser {
        name: String,
        // Not `password`: that id is the global --password's, which it would overwrite.
        #[arg(value_name = "PASSWORD")]
        new_password: String,
    },
    DeleteUser {
        name: String,
    },
    /// Set a user's password, keeping its tags.
    ChangePassword {
        name: String,
        // Not `password`: that id is the global --password's, which it would overwrite.
        #[arg(value_name = "PASSWORD")]
        new_password: String,
    },
    /// Replace a user's tags (none clears them), keeping its password.
    SetUserTags {
        name: String,
        tags: Vec<String>,
    },
    /// Create a vhost, with rabbitmqctl's --description, --tags and --default-queue-type.
    AddVhost {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Comma-separated.
        #[arg(long)]
        tags: Option<String>,
        /// classic, quorum or stream: what queue.declare gives a queue that names no type.
        #[arg(long = "default-queue-type")]
        default_queue_type: Option<String>,
    },
    DeleteVhost {
        name: String,
    },
    /// Turn the firehose tracer on in the vhost (-p): every message published into it and
    /// delivered from it is copied to its amq.rabbitmq.trace exchange.
    TraceOn,
    /// Turn the firehose tracer off in the vhost (-p).
    TraceOff,
    /// Grant a user configure, write and read patterns in the vhost.
    SetPermissions {
        user: String,
        #[arg(allow_hyphen_values = true)]
        configure: String,
        #[arg(allow_hyphen_values = true)]
        write: String,
        #[arg(allow_hyphen_values = true)]
        read: String,
    },
    /// Limit the routing keys a user may publish and bind with on a topic exchange.
    SetTopicPermissions {
        user: String,
        exchange: String,
        #[arg(allow_hyphen_values = true)]
        write: String,
        #[arg(allow_hyphen_values = true)]
        read: String,
    },
    /// Set a policy: a JSON definition applied to the queues and/or exchanges whose names
    /// match the pattern.
    SetPolicy {
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        priority: i64,
        /// queues, exchanges or all.
        #[arg(long = "apply-to", default_value = "all")]
        apply_to: String,
        name: String,
        #[arg(allow_hyphen_values = true)]
        pattern: String,
        definition: String,
    },
    ClearPolicy {
        name: String,
    },
    /// Delete every ready message in a queue.
    PurgeQueue {
        queue: String,
    },
    /// Close a connection (its name as list_connections name shows it), telling the client
    /// the reason.
    CloseConnection {
        name: String,
        reason: String,
    },
    /// Write every definition (users, vhosts, permissions, policies, exchanges, queues,
    /// bindings) as JSON to a file, or to stdout with "-".
    ExportDefinitions {
        file: String,
    },
    /// Import definitions from a JSON file, or from stdin with "-".
    ImportDefinitions {
        file: String,
    },
    /// The node: version, uptime, listeners, alarms, totals.
    Status,
    /// Warren, for tests: back to the state at start (every connection closed with 320).
    Reset,
    /// Warren, for tests: queues with depths and consumers, bindings, connections (JSON).
    Snapshot,
    /// Warren, for tests: a fresh vhost and a user allowed only there (JSON, with a URL).
    IsolatedVhost,
    /// Warren, for tests: arm a fault plan given as JSON ("-" reads it from stdin), e.g.
    /// '{"target":"all","steps":[{"after_publishes":100,"action":"drop_connection"}]}'.
    InjectFault {
        plan: String,
    },
    /// Warren, for tests: clear every fault plan and every fault in force.
    ClearFaults,
    /// Warren, for tests: raise or clear a simulated disk or memory alarm.
    SimulateAlarm {
        #[arg(value_parser = ["disk", "memory"])]
        resource: String,
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Warren, for tests: drop every connection and recover the data as after kill -9.
    Crash,
}

/// Runs one ctl command; its exit code.
pub fn run(args: &CtlArgs) -> u8 {
    match execute(args) {
        Ok(()) => 0,
        // stdout closed early (`warren ctl list_queues | head`): done, as for any filter.
        Err(f) if f.code == 0 => 0,
        Err(f) => {
            eprintln!("Error:\n{}", f.message);
            f.code
        }
    }
}

fn execute(a: &CtlArgs) -> Done {
    let timeout = Duration::try_from_secs_f64(a.timeout)
        .map_err(|_| Failure::new(exit::USAGE, "--timeout must be a positive number"))?;
    let api = Client::new(&a.url, &a.username, &a.password, timeout);
    let out = Output {
        formatter: a.formatter,
        quiet: a.quiet,
        no_headers: a.no_table_headers,
    };
    let vhost = a.vhost.as_str();
    let in_vhost = |f: Failure| f.not_found(exit::UNAVAILABLE, || no_vhost(vhost));
    let no_user = |name: &str| {
        let name = name.to_owned();
        move |f: Failure| f.not_found(exit::NOUSER, || format!("User \"{name}\" does not exist"))
    };
    match &a.command {
        Command::ListQueues { columns } => {
            let banner = [
                format!("Timeout: {:.1} seconds ...", a.timeout),
                format!("Listing queues for vhost {vhost} ..."),
            ];
            let banner = banner.each_ref().map(String::as_str);
            let p = path(&["queues", vhost]);
            list(&api, &out, &banner, &columns::QUEUES, columns, &p).map_err(in_vhost)
        }
        Command::ListExchanges { columns } => {
            let p = path(&["exchanges", vhost]);
            list(
                &api,
                &out,
                &[&format!("Listing exchanges for vhost {vhost} ...")],
                &columns::EXCHANGES,
                columns,
                &p,
            )
            .map_err(in_vhost)
        }
        Command::ListBindings { columns } => {
            let p = path(&["bindings", vhost]);
            list(
                &api,
                &out,
                &[&format!("Listing bindings for vhost {vhost}...")],
                &columns::BINDINGS,
                columns,
                &p,
            )
            .map_err(in_vhost)
        }
        Command::ListConnections { columns } => list(
            &api,
            &out,
            &["Listing connections ..."],
            &columns::CONNECTIONS,
            columns,
            &path(&["connections"]),
        ),
        Command::ListConsumers { columns } => {
            let p = path(&["consumers", vhost]);
            list(
                &api,
                &out,
                &[&format!("Listing consumers in vhost {vhost} ...")],
                &columns::CONSUMERS,
                columns,
                &p,
            )
            .map_err(in_vhost)
        }
        Command::ListUsers { columns } => list(
            &api,
            &out,
            &["Listing users ..."],
            &columns::USERS,
            columns,
            &path(&["users"]),
        ),
        Command::ListVhosts { columns } => list(
            &api,
            &out,
            &["Listing vhosts ..."],
            &columns::VHOSTS,
            columns,
            &path(&["vhosts"]),
        ),
        Command::ListPermissions { columns } => {
            let p = path(&["vhosts", vhost, "permissions"]);
            list(
                &api,
                &out,
                &[&format!("Listing permissions for vhost \"{vhost}\" ...")],
                &columns::PERMISSIONS,
                columns,
                &p,
            )
            .map_err(in_vhost)
        }
        Command::ListTopicPermissions { columns } => {
            let p = path(&["vhosts", vhost, "topic-permissions"]);
            list(
                &api,
                &out,
                &[&format!(
                    "Listing topic permissions for vhost \"{vhost}\" ..."
                )],
                &columns::TOPIC_PERMISSIONS,
                columns,
                &p,
            )
            .map_err(in_vhost)
        }
        Command::ListPolicies { columns } => {
            let p = path(&["policies", vhost]);
            list(
                &api,
                &out,
                &[&format!("Listing policies for vhost \"{vhost}\" ...")],
                &columns::POLICIES,
                columns,
                &p,
            )
            .map_err(in_vhost)
        }
        Command::AddUser { name, new_password } => {
            out.action(&format!("Adding user \"{name}\" ..."));
            let p = path(&["users", name]);
            api.put(&p, &json!({"password": new_password, "tags": ""}))
        }
        Command::DeleteUser { name } => {
            out.action(&format!("Deleting user \"{name}\" ..."));
            api.delete(&path(&["users", name]), &[])
                .map_err(no_user(name))
        }
        Command::ChangePassword { name, new_password } => {
            out.action(&format!("Changing password for user \"{name}\" ..."));
            let p = path(&["users", name]);
            let user = api.get(&p).map_err(no_user(name))?;
            let tags = user.get("tags").cloned().unwrap_or_else(|| json!(""));
            api.put(&p, &json!({"password": new_password, "tags": tags}))
        }
        Command::SetUserTags { name, tags } => {
            out.action(&format!(
                "Setting tags for user \"{name}\" to [{}] ...",
                tags.join(", ")
            ));
            let p = path(&["users", name]);
            // The user must exist, and keeps its password: a PUT without one clears it, as
            // RabbitMQ's API does.
            let user = api.get(&p).map_err(no_user(name))?;
            let keep = |k: &str| user.get(k).cloned().unwrap_or_else(|| json!(""));
            api.put(
                &p,
                &json!({"tags": tags.join(","), "password_hash": keep("password_hash"),
                    "hashing_algorithm": keep("hashing_algorithm")}),
            )
        }
        Command::AddVhost {
            name,
            description,
            tags,
            default_queue_type,
        } => {
            out.action(&format!("Adding vhost \"{name}\" ..."));
            let mut body = serde_json::Map::new();
            for (k, v) in [
                ("description", description),
                ("tags", tags),
                ("default_queue_type", default_queue_type),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), json!(v));
                }
            }
            api.put(&path(&["vhosts", name]), &Value::Object(body))
        }
        Command::TraceOn | Command::TraceOff => {
            let on = matches!(a.command, Command::TraceOn);
            let (doing, done) = if on {
                ("Starting", "enabled")
            } else {
                ("Stopping", "disabled")
            };
            out.action(&format!("{doing} tracing for vhost \"{vhost}\" ..."));
            // As rabbitmqctl: a vhost that does not exist is no error (and is not made).
            // The PUT carries the vhost's description and tags, which it would clear.
            let p = path(&["vhosts", vhost]);
            match api.get(&p) {
                Ok(v) => api.put(
                    &p,
                    &json!({"description": v["description"], "tags": v["tags"], "tracing": on}),
                )?,
                Err(f) if f.status == Some(404) => {}
                Err(f) => return Err(f),
            }
            out.action(&format!("Trace {done} for vhost {vhost}"));
            Ok(())
        }
        Command::DeleteVhost { name } => {
            out.action(&format!("Deleting vhost \"{name}\" ..."));
            api.delete(&path(&["vhosts", name]), &[])
                .map_err(|f| f.not_found(exit::UNAVAILABLE, || no_vhost(name)))
        }
        Command::SetPermissions {
            user,
            configure,
            write,
            read,
        } => {
            out.action(&format!(
                "Setting permissions for user \"{user}\" in vhost \"{vhost}\" ..."
            ));
            let p = path(&["permissions", vhost, user]);
            api.put(
                &p,
                &json!({"configure": configure, "write": write, "read": read}),
            )
        }
        Command::SetTopicPermissions {
            user,
            exchange,
            write,
            read,
        } => {
            out.action(&format!(
                "Setting topic permissions on \"{exchange}\" for user \"{user}\" in vhost \"{vhost}\" ..."
            ));
            let p = path(&["topic-permissions", vhost, user]);
            api.put(
                &p,
                &json!({"exchange": exchange, "write": write, "read": read}),
            )
        }
        Command::SetPolicy {
            priority,
            apply_to,
            name,
            pattern,
            definition,
        } => {
            out.action(&format!(
                "Setting policy \"{name}\" for pattern \"{pattern}\" to \"{definition}\" with priority \"{priority}\" for vhost \"{vhost}\" ..."
            ));
            let definition: Value = serde_json::from_str(definition).map_err(|e| {
                Failure::new(
                    exit::DATAERR,
                    format!("the policy definition is not JSON: {e}"),
                )
            })?;
            let body = json!({
                "pattern": pattern,
                "definition": definition,
                "priority": priority,
                "apply-to": apply_to,
            });
            api.put(&path(&["policies", vhost, name]), &body)
                .map_err(in_vhost)
        }
        Command::ClearPolicy { name } => {
            out.action(&format!(
                "Clearing policy \"{name}\" on vhost \"{vhost}\" ..."
            ));
            api.delete(&path(&["policies", vhost, name]), &[])
                .map_err(|f| {
                    f.not_found(exit::UNAVAILABLE, || {
                        format!("Policy \"{name}\" in vhost \"{vhost}\" does not exist")
                    })
                })
        }
        Command::PurgeQueue { queue } => {
            out.action(&format!("Purging queue '{queue}' in vhost '{vhost}' ..."));
            api.delete(&path(&["queues", vhost, queue, "contents"]), &[])
                .map_err(|f| {
                    f.not_found(exit::UNAVAILABLE, || {
                        format!("Queue '{queue}' in vhost '{vhost}' does not exist")
                    })
                })
        }
        Command::CloseConnection { name, reason } => {
            out.action(&format!(
                "Closing connection \"{name}\", reason: {reason}..."
            ));
            api.delete(&path(&["connections", name]), &[("X-Reason", reason)])
                .map_err(|f| {
                    f.not_found(exit::UNAVAILABLE, || {
                        format!("Connection \"{name}\" does not exist")
                    })
                })
        }
        Command::ExportDefinitions { file } => export(&api, &out, file),
        Command::ImportDefinitions { file } => import(&api, &out, file),
        Command::Status => status(&api, &out),
        Command::Reset
        | Command::Snapshot
        | Command::IsolatedVhost
        | Command::InjectFault { .. }
        | Command::ClearFaults
        | Command::SimulateAlarm { .. }
        | Command::Crash => testing::run(&api, &out, &a.command),
    }
}

fn no_vhost(vhost: &str) -> String {
    format!("Virtual host \"{vhost}\" does not exist")
}

/// A `list_*` command: check the columns, print the banner, fetch the list, print a row per
/// object.
fn list(
    api: &Client,
    out: &Output,
    banner: &[&str],
    listing: &Listing,
    asked: &[String],
    path: &str,
) -> Done {
    let columns = listing.select(asked).map_err(|unknown| {
        Failure::new(
            exit::USAGE,
            format!(
                "Info key(s) {} are not supported; known: {}",
                unknown.join(","),
                listing
                    .keys
                    .iter()
                    .map(|(k, _)| *k)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })?;
    for line in banner {
        out.info(line);
    }
    let items = api.get(path)?;
    let rows: Vec<Vec<Value>> = items
        .as_array()
        .map(|a| a.iter().map(|o| columns::row(o, &columns)).collect())
        .unwrap_or_default();
    let names: Vec<String> = columns.into_iter().map(|(n, _)| n).collect();
    out.rows(&names, &rows).map_err(io_failure)
}

fn io_failure(e: std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return Failure::new(0, "");
    }
    Failure::new(exit::IOERR, e.to_string())
}

fn export(api: &Client, out: &Output, file: &str) -> Done {
    let definitions = api.get(&path(&["definitions"]))?;
    let text = serde_json::to_string_pretty(&definitions)
        .map_err(|e| Failure::new(exit::SOFTWARE, e.to_string()))?;
    if file == "-" {
        let mut stdout = std::io::stdout().lock();
        return writeln!(stdout, "{text}").map_err(io_failure);
    }
    out.action(&format!(
        "Exporting definitions in JSON to a file at \"{file}\" ..."
    ));
    std::fs::write(file, text + "\n")
        .map_err(|e| Failure::new(exit::IOERR, format!("cannot write {file}: {e}")))
}

fn import(api: &Client, out: &Output, file: &str) -> Done {
    let bytes = if file == "-" {
        let mut b = Vec::new();
        std::io::stdin().read_to_end(&mut b).map_err(io_failure)?;
        b
    } else {
        out.action(&format!(
            "Importing definitions in JSON from a file at \"{file}\" ..."
        ));
        std::fs::read(file)
            .map_err(|e| Failure::new(exit::IOERR, format!("cannot read {file}: {e}")))?
    };
    if let Err(e) = serde_json::from_slice::<Value>(&bytes) {
        return Err(Failure::new(
            exit::DATAERR,
            format!("the definitions are not JSON: {e}"),
        ));
    }
    api.post(&path(&["definitions"]), &bytes)
}

fn status(api: &Client, out: &Output) -> Done {
    let overview = api.get(&path(&["overview"]))?;
    let nodes = api.get(&path(&["nodes"]))?;
    let node = nodes.get(0).cloned().unwrap_or(Value::Null);
    if out.formatter == Formatter::Json {
        let summary = json!({
            "node_name": overview["node"],
            "product_name": overview["product_name"],
            "product_version": overview["product_version"],
            "rabbitmq_version": overview["rabbitmq_version"],
            "uptime": node["uptime"].as_u64().map(|ms| ms / 1000),
            "listeners": overview["listeners"],
            "alarms": alarms(&node),
            "totals": overview["object_totals"],
            "queue_totals": overview["queue_totals"],
            "memory": {"used": node["mem_used"], "limit": node["mem_limit"]},
            "disk": {"free": node["disk_free"], "limit": node["disk_free_limit"]},
        });
        let mut stdout = std::io::stdout().lock();
        return writeln!(stdout, "{summary}").map_err(io_failure);
    }
    let s = |v: &Value| format::cell("", v);
    out.info(&format!("Status of node {} ...", s(&overview["node"])));
    let mut lines = vec![
        "Runtime".to_owned(),
        String::new(),
        format!(
            "{} version: {}",
            s(&overview["product_name"]),
            s(&overview["product_version"])
        ),
        format!(
            "RabbitMQ version (compatible): {}",
            s(&overview["rabbitmq_version"])
        ),
        format!("Node name: {}", s(&overview["node"])),
        format!("OS PID: {}", s(&node["os_pid"])),
        format!(
            "Uptime (seconds): {}",
            node["uptime"].as_u64().unwrap_or(0) / 1000
        ),
        String::new(),
        "Alarms".to_owned(),
        String::new(),
    ];
    let alarms = alarms(&node);
    if alarms.is_empty() {
        lines.push("(none)".to_owned());
    }
    lines.extend(alarms.iter().map(s));
    lines.extend([String::new(), "Memory".to_owned(), String::new()]);
    lines.push(format!(
        "Used: {} bytes, high watermark: {} bytes",
        s(&node["mem_used"]),
        s(&node["mem_limit"])
    ));
    lines.extend([String::new(), "Free Disk Space".to_owned(), String::new()]);
    lines.push(format!(
        "Low free disk space watermark: {} bytes, free: {} bytes",
        s(&node["disk_free_limit"]),
        s(&node["disk_free"])
    ));
    lines.extend([String::new(), "Listeners".to_owned(), String::new()]);
    for l in overview["listeners"].as_array().into_iter().flatten() {
        lines.push(format!(
            "Interface: {}, port: {}, protocol: {}",
            s(&l["ip_address"]),
            s(&l["port"]),
            s(&l["protocol"])
        ));
    }
    lines.extend([String::new(), "Totals".to_owned(), String::new()]);
    let t = &overview["object_totals"];
    for (label, key) in [
        ("Connection count", "connections"),
        ("Channel count", "channels"),
        ("Queue count", "queues"),
        ("Exchange count", "exchanges"),
        ("Consumer count", "consumers"),
    ] {
        lines.push(format!("{label}: {}", s(&t[key])));
    }
    lines.push(format!(
        "Message count: {}",
        s(&overview["queue_totals"]["messages"])
    ));
    let mut stdout = std::io::stdout().lock();
    for l in lines {
        writeln!(stdout, "{l}").map_err(io_failure)?;
    }
    Ok(())
}

/// The node's alarms in force, as status names them.
fn alarms(node: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if node["mem_alarm"].as_bool() == Some(true) {
        out.push(json!("memory"));
    }
    if node["disk_free_alarm"].as_bool() == Some(true) {
        out.push(json!("free disk space"));
    }
    out
}
