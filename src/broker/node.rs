//! The node's name, which RabbitMQ takes from its Erlang node and Warren from the host.

/// The node name Warren reports where RabbitMQ reports its Erlang node (`rabbit@<host>`),
/// read once.
pub fn name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into());
        format!("rabbit@{host}")
    })
}
