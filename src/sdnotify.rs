//! TEMPORARY stub until the sd_notify module lands.
#[derive(Debug, Default)]
pub struct Notifier;
impl Notifier {
    pub fn from_env() -> Notifier { Notifier }
    pub fn from_vars(_a: Option<&str>, _b: Option<&str>, _c: Option<&str>) -> Notifier { Notifier }
    pub fn is_enabled(&self) -> bool { false }
    pub fn ready(&self, _s: &str) -> std::io::Result<()> { Ok(()) }
    pub fn status(&self, _s: &str) -> std::io::Result<()> { Ok(()) }
    pub fn reloading(&self) -> std::io::Result<()> { Ok(()) }
    pub fn stopping(&self, _s: &str) -> std::io::Result<()> { Ok(()) }
    pub fn watchdog(&self) -> std::io::Result<()> { Ok(()) }
    pub fn watchdog_interval(&self) -> Option<std::time::Duration> { None }
}
