//! A small blocking HTTP/1.1 client over one keep-alive connection: enough for the CLI, the tests and the
//! load benchmark against the service on loopback (`Content-Length` and chunked bodies; no TLS).

use crate::error::ServiceError;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The largest response body read, bytes.
pub const RESPONSE_BYTES_MAX: usize = 256 << 20;

/// A response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names in lower case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, ServiceError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ServiceError::Client(format!(
                "status {}: body is not JSON: {e}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            ))
        })
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One connection.
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    token: Option<String>,
    conn: Option<BufReader<TcpStream>>,
}

fn err(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Client(e.to_string())
}

impl Client {
    /// A client of the service at `addr`, sending `token` (if any) as a bearer token.
    pub fn new(addr: SocketAddr, token: Option<&str>) -> Client {
        Client {
            addr,
            token: token.map(str::to_owned),
            conn: None,
        }
    }

    /// Changes the token sent.
    pub fn set_token(&mut self, token: Option<&str>) {
        self.token = token.map(str::to_owned);
    }

    fn connect(&mut self) -> Result<&mut BufReader<TcpStream>, ServiceError> {
        if self.conn.is_none() {
            let s = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).map_err(err)?;
            s.set_nodelay(true).map_err(err)?;
            s.set_read_timeout(Some(Duration::from_secs(30)))
                .map_err(err)?;
            self.conn = Some(BufReader::new(s));
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }

    /// `GET path`.
    pub fn get(&mut self, path: &str) -> Result<Response, ServiceError> {
        self.request("GET", path, None, None)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&mut self, path: &str, body: &str) -> Result<Response, ServiceError> {
        self.request(
            "POST",
            path,
            Some("application/json"),
            Some(body.as_bytes()),
        )
    }

    /// `DELETE path`.
    pub fn delete(&mut self, path: &str) -> Result<Response, ServiceError> {
        self.request("DELETE", path, None, None)
    }

    /// A request; retried once on a fresh connection when a kept-alive one was closed by the server.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Response, ServiceError> {
        let reused = self.conn.is_some();
        match self.try_request(method, path, content_type, body) {
            Ok(r) => Ok(r),
            Err(_) if reused => {
                self.conn = None;
                self.try_request(method, path, content_type, body)
            }
            Err(e) => Err(e),
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Response, ServiceError> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {}\r\n", self.addr);
        if let Some(t) = &self.token {
            head.push_str(&format!("authorization: Bearer {t}\r\n"));
        }
        if let Some(ct) = content_type {
            head.push_str(&format!("content-type: {ct}\r\n"));
        }
        head.push_str(&format!(
            "content-length: {}\r\n\r\n",
            body.map_or(0, <[u8]>::len)
        ));
        let conn = self.connect()?;
        let result = send(conn, head.as_bytes(), body).and_then(|_| read_response(conn));
        if result
            .as_ref()
            .map_or(true, |r| r.header("connection") == Some("close"))
        {
            self.conn = None;
        }
        result
    }
}

fn send(
    conn: &mut BufReader<TcpStream>,
    head: &[u8],
    body: Option<&[u8]>,
) -> Result<(), ServiceError> {
    let s = conn.get_mut();
    s.write_all(head).map_err(err)?;
    if let Some(b) = body {
        s.write_all(b).map_err(err)?;
    }
    Ok(())
}

fn read_line(r: &mut BufReader<TcpStream>) -> Result<String, ServiceError> {
    let mut line = String::new();
    let n = r.read_line(&mut line).map_err(err)?;
    if n == 0 {
        return Err(err("connection closed"));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn read_response(r: &mut BufReader<TcpStream>) -> Result<Response, ServiceError> {
    let status_line = read_line(r)?;
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v): &(String, String)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = find("content-length") {
        let n: usize = len.parse().map_err(|_| err("bad content-length"))?;
        if n > RESPONSE_BYTES_MAX {
            return Err(err("response too large"));
        }
        body.resize(n, 0);
        r.read_exact(&mut body).map_err(err)?;
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let size_line = read_line(r)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| err("bad chunk size"))?;
            if size == 0 {
                let _ = read_line(r)?;
                break;
            }
            if body.len() + size > RESPONSE_BYTES_MAX {
                return Err(err("response too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).map_err(err)?;
            let _ = read_line(r)?;
        }
    } else if status != 101 && status != 204 && status != 304 {
        r.read_to_end(&mut body).map_err(err)?;
        headers.push(("connection".into(), "close".into()));
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}
