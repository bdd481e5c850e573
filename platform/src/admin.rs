//! The admin endpoint `push` talks to: loopback only, behind a random token
//! in the URL (published in `DIR/platform.json`), JSON in and out.

use std::io::{BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;

use rumqttc::Client;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::http::{self, Handler, Request, Server};
use crate::mqtt;
use crate::peer::Peer;

const MAX_BODY: u64 = 64 * 1024;

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

struct AdminHandler {
    token: String,
    peer: Arc<Peer>,
    client: Client,
}

/// Starts the admin endpoint; requests must use the path prefix
/// `/admin/<token>`.
pub fn serve(
    listener: TcpListener,
    token: String,
    peer: Arc<Peer>,
    client: Client,
) -> std::io::Result<Server> {
    Server::start(
        listener,
        Arc::new(AdminHandler {
            token,
            peer,
            client,
        }),
    )
}

fn answer(w: &mut TcpStream, status: u16, body: serde_json::Value) {
    let _ = http::write_response(
        w,
        status,
        "application/json",
        &[],
        body.to_string().as_bytes(),
    );
}

impl Handler for AdminHandler {
    fn handle(&self, req: Request, reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) {
        let prefix = format!("/admin/{}", self.token);
        let Some(route) = req.path.strip_prefix(&prefix) else {
            return answer(writer, 404, json!({"error": "no such endpoint"}));
        };
        match (req.method.as_str(), route) {
            ("GET", "/status") => answer(writer, 200, json!({"result": "ok"})),
            ("POST", "/push") => self.push(&req, reader, writer),
            _ => answer(writer, 404, json!({"error": "no such endpoint"})),
        }
    }
}

impl AdminHandler {
    fn push(&self, req: &Request, reader: &mut BufReader<TcpStream>, writer: &mut TcpStream) {
        let len = match req.header("content-length").map(str::parse::<u64>) {
            Some(Ok(n)) if n <= MAX_BODY => n,
            _ => {
                return answer(
                    writer,
                    400,
                    json!({"error": "a JSON body with Content-Length is required"}),
                )
            }
        };
        let mut body = Vec::new();
        if reader.take(len).read_to_end(&mut body).is_err() || body.len() as u64 != len {
            return answer(writer, 400, json!({"error": "request body cut short"}));
        }
        let push: PushRequest = match serde_json::from_slice(&body) {
            Ok(p) => p,
            Err(e) => return answer(writer, 400, json!({"error": format!("bad request: {e}")})),
        };
        match self
            .peer
            .push(&push.product, &push.device, &push.file, &push.name)
        {
            Ok(down) => {
                mqtt::publish(&self.client, &down);
                let mut reply = down.payload.clone();
                reply["result"] = json!("ok");
                reply["topic"] = json!(down.topic);
                answer(writer, 200, reply);
            }
            Err(e) => answer(writer, 400, json!({"error": e})),
        }
    }
}
