//! The admin endpoint `push` and `task cancel` talk to: loopback only,
//! behind a random token in the URL (published in `DIR/platform.json`),
//! JSON in and out.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use hyper::Response;
use rumqttc::Client;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::devices::Registry;
use crate::http::{self, Body, ConnLog, Handler, Reply, Request, Server};
use crate::mqtt;
use crate::peer::Peer;

const MAX_BODY: usize = 64 * 1024;

/// Body of `POST <admin_url>/push`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PushRequest {
    /// Product id of the device.
    pub product: String,
    /// Device name.
    pub device: String,
    /// Absolute path of the file to push (read by the serve process).
    pub file: PathBuf,
    /// Resource name the device will see.
    pub name: String,
}

/// Body of `POST <admin_url>/task/cancel`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CancelRequest {
    /// Product id of the device.
    pub product: String,
    /// Device name.
    pub device: String,
    /// Name of the pending download task.
    pub name: String,
}

struct AdminHandler {
    token: String,
    peer: Arc<Peer>,
    client: Client,
    registry: Option<PathBuf>,
}

/// Starts the admin endpoint; requests must use the path prefix
/// `/admin/<token>`. With `registry` (the broker checks devices), a push
/// to a device that is not registered there is refused: it could never
/// log in to take it.
pub fn serve(
    listener: TcpListener,
    token: String,
    peer: Arc<Peer>,
    client: Client,
    registry: Option<PathBuf>,
) -> std::io::Result<Server> {
    Server::start(
        listener,
        None,
        Arc::new(AdminHandler {
            token,
            peer,
            client,
            registry,
        }),
    )
}

fn answer(status: u16, body: Value) -> Response<Body> {
    http::response(status, "application/json", body.to_string())
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("bad request: {e}"))
}

impl Handler for AdminHandler {
    fn handle(self: Arc<Self>, req: Request, _conn: ConnLog) -> Reply {
        Box::pin(async move {
            let prefix = format!("/admin/{}", self.token);
            let route = req.uri().path().strip_prefix(&prefix).map(str::to_string);
            let method = req.method().as_str().to_string();
            let Some(route) = route else {
                return answer(404, json!({"error": "no such endpoint"}));
            };
            if (method.as_str(), route.as_str()) == ("GET", "/status") {
                return answer(200, json!({"result": "ok"}));
            }
            if method != "POST" || !["/push", "/task/cancel"].contains(&route.as_str()) {
                return answer(404, json!({"error": "no such endpoint"}));
            }
            let body = match http::read_small_body(req.into_body(), MAX_BODY).await {
                Ok(b) => b,
                Err(e) => return answer(400, json!({ "error": e })),
            };
            // Copying a large file into the store blocks: not on the
            // runtime's threads.
            let this = Arc::clone(&self);
            tokio::task::spawn_blocking(move || match route.as_str() {
                "/push" => this.push(&body),
                _ => this.cancel(&body),
            })
            .await
            .unwrap_or_else(|e| answer(500, json!({"error": e.to_string()})))
        })
    }
}

impl AdminHandler {
    fn push(&self, body: &[u8]) -> Response<Body> {
        let push: PushRequest = match parse(body) {
            Ok(p) => p,
            Err(e) => return answer(400, json!({ "error": e })),
        };
        if let Some(path) = &self.registry {
            let known = Registry::load(path)
                .map(|r| r.find(&push.product, &push.device).is_some())
                .unwrap_or(false);
            if !known {
                let error = format!(
                    "device {}/{} is not registered (resmgr-platform device add --product {} --device {}): the broker would never let it in",
                    push.product, push.device, push.product, push.device
                );
                return answer(404, json!({ "error": error }));
            }
        }
        match self
            .peer
            .push(&push.product, &push.device, &push.file, &push.name)
        {
            Ok(down) => {
                mqtt::publish(&self.client, &down);
                let mut reply = down.payload.clone();
                reply["result"] = json!("ok");
                reply["topic"] = json!(down.topic);
                answer(200, reply)
            }
            Err(e) => answer(400, json!({ "error": e })),
        }
    }

    fn cancel(&self, body: &[u8]) -> Response<Body> {
        let c: CancelRequest = match parse(body) {
            Ok(c) => c,
            Err(e) => return answer(400, json!({ "error": e })),
        };
        match self.peer.cancel_download(&c.product, &c.device, &c.name) {
            Ok(()) => answer(200, json!({"result": "ok"})),
            Err(e) => answer(404, json!({ "error": e })),
        }
    }
}
