//! A real browser for the Control UI tests: Debian's chromium, headless, driven over the
//! W3C WebDriver protocol by chromedriver. Conditions are awaited inside the page with a
//! MutationObserver (an async script), never by sleeping.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub struct Browser {
    http: reqwest::Client,
    url: String,
    driver: Child,
}

fn find(candidates: &[&str]) -> Option<String> {
    candidates
        .iter()
        .find(|p| std::path::Path::new(p).exists())
        .map(|p| p.to_string())
}

impl Browser {
    /// Starts chromedriver and a headless chromium session; `None` (the test skips)
    /// when they are not installed, unless `CLAWDBOT_REQUIRE_BROWSER=1`.
    pub async fn start() -> Option<Browser> {
        let chromium = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
        let driver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            assert!(
                std::env::var("CLAWDBOT_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "CLAWDBOT_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed (apt install chromium chromium-driver)"
            );
            eprintln!("SKIP browser test: chromium and chromium-driver are not installed");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        // Ready once it says so on stdout.
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.contains("started successfully") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,860", "--no-first-run"],
        }}}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_string();
        let b = Browser {
            http,
            url: format!("{base}/session/{session}"),
            driver: child,
        };
        b.cmd(
            "POST",
            "/timeouts",
            json!({"script": 20000, "pageLoad": 20000}),
        )
        .await;
        Some(b)
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.url);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        if v["value"].get("error").is_some() {
            panic!("webdriver {method} {path}: {}", v["value"]);
        }
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url})).await;
    }

    pub async fn eval(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Waits until the JS expression `cond` is truthy; returns its value. Checked on
    /// every DOM mutation and also every 50 ms: some conditions change without one (an
    /// image finishing its decode sets `naturalWidth`, which no observer sees).
    pub async fn wait(&self, cond: &str) -> Value {
        let script = format!(
            "const done = arguments[arguments.length - 1];
             let finished = false, obs = null, timer = null;
             const check = () => {{
               if (finished) return true;
               try {{ const v = ({cond}); if (v) {{
                 finished = true; if (obs) obs.disconnect(); if (timer) clearInterval(timer); done(v); return true;
               }} }} catch (e) {{}}
               return false;
             }};
             if (!check()) {{
               obs = new MutationObserver(check);
               obs.observe(document, {{subtree: true, childList: true, characterData: true, attributes: true}});
               timer = setInterval(check, 50);
             }}"
        );
        let url = format!("{}/execute/async", self.url);
        let v: Value = self
            .http
            .post(url)
            .json(&json!({"script": script, "args": []}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["value"].get("error").is_some() {
            let page = self.eval("return document.body.innerText").await;
            panic!(
                "waiting for `{cond}`: {}\npage text:\n{page}",
                v["value"]["message"]
            );
        }
        v["value"].clone()
    }

    async fn element(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_string()
    }

    /// Types into an element as a user would (key events).
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), json!({}))
            .await;
    }

    /// Resizes the window (e.g. to a phone's 390×844).
    pub async fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            json!({"width": width, "height": height}),
        )
        .await;
    }

    /// Saves a PNG screenshot (a test artifact) and returns its path.
    pub async fn screenshot(&self, name: &str) -> std::path::PathBuf {
        use base64::Engine;
        let v = self.cmd("GET", "/screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    pub async fn close(mut self) {
        let _ = self.http.delete(&self.url).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}
