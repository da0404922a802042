//! `luciac lsp`: a language server for `lucia.kdl` and its profiles, over stdio.
//!
//! Built on rust-analyzer's `lsp-server` (synchronous, with an in-memory connection that the
//! protocol tests use) and `lsp-types`. This file is the protocol loop: it keeps the open
//! documents, publishes diagnostics when they change and sends each request to its module:
//!
//! | Module | Requests |
//! |---|---|
//! | `diagnostics` | `publishDiagnostics`, `codeAction` (did-you-mean quick fixes) |
//! | `hover` | `hover` |
//! | `completion` | `completion` |
//! | `navigation` | `definition`, `references`, `prepareRename`, `rename` |
//! | `symbols` | `documentSymbol` |
//! | `crate::fmt` | `formatting` |
//!
//! Requests are answered one at a time, in order. Before running one, the loop drains what the
//! client has already sent, so a `$/cancelRequest` for a request still waiting is honoured
//! (answered with `RequestCancelled`); a request already answered needs nothing. `shutdown` and
//! `exit` are handled here too (see [`after_shutdown`]). A handler that panicked would be a
//! bug, but it answers `InternalError` and the server keeps running: no input may end the
//! session.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{
    CodeActionRequest, Completion, DocumentSymbolRequest, Formatting, GotoDefinition, HoverRequest,
    PrepareRenameRequest, References, Rename, Request as _,
};
use lsp_types::{
    CodeActionProviderCapability, CompletionOptions, HoverProviderCapability, OneOf,
    PublishDiagnosticsParams, RenameOptions, ServerCapabilities, TextDocumentPositionParams,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
};

pub mod completion;
pub mod diagnostics;
pub mod hover;
pub mod index;
pub mod navigation;
pub mod schema;
pub mod symbols;
pub mod world;

use world::{Project, World, path_to_uri, uri_to_path};

pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::FULL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into(), "{".into(), "\"".into(), "=".into()]),
            ..CompletionOptions::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
        ..ServerCapabilities::default()
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Run the server on stdin/stdout until the client says `exit` or closes stdin.
///
/// The transport is ours rather than `Connection::stdio()`, whose reader stops at the first
/// malformed message (ending the session) and allocates whatever `Content-Length` claims.
/// Here a frame that is not a JSON-RPC message is reported on stderr and skipped, and a
/// frame above [`MAX_FRAME`] is read past without being kept.
pub fn run_stdio() -> Result<(), Error> {
    let (server, bridge) = Connection::memory();
    let Connection {
        sender: to_server,
        receiver: from_server,
    } = bridge;
    // Not joined: after `exit` it is blocked reading stdin, and ends with the process.
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        while let Some(frame) = read_frame(&mut input) {
            let Some(text) = frame else { continue };
            match serde_json::from_str::<Message>(&text) {
                Ok(m) => {
                    let exit = matches!(&m, Message::Notification(n) if n.method == "exit");
                    if to_server.send(m).is_err() || exit {
                        break;
                    }
                }
                Err(e) => eprintln!("luciac lsp: ignored a message that is not JSON-RPC: {e}"),
            }
        }
    });
    let writer = std::thread::spawn(move || {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        for m in from_server {
            if m.write(&mut out).is_err() {
                break;
            }
        }
    });
    let res = serve(&server);
    drop(server);
    let _ = writer.join();
    res
}

/// The largest message kept (a `didChange` carries a whole file; 64 MiB is far beyond any
/// declaration).
const MAX_FRAME: usize = 64 << 20;

/// One `Content-Length` frame: `None` at the end of input, `Some(None)` for a frame that is
/// skipped (bad headers, too large, not UTF-8), `Some(Some(text))` otherwise.
fn read_frame(input: &mut impl std::io::BufRead) -> Option<Option<String>> {
    let mut length: Option<usize> = None;
    let mut bad = false;
    loop {
        let mut line = String::new();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            if length.is_some() || bad {
                break;
            }
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("content-length") => {
                match value.trim().parse::<usize>() {
                    Ok(n) => length = Some(n),
                    Err(_) => bad = true,
                }
            }
            Some(_) => {}
            None => bad = true,
        }
    }
    let Some(n) = length else {
        eprintln!("luciac lsp: ignored a message without a valid Content-Length");
        return Some(None);
    };
    if n > MAX_FRAME {
        eprintln!("luciac lsp: ignored a message of {n} bytes");
        let mut rest = std::io::Read::take(&mut *input, n as u64);
        return std::io::copy(&mut rest, &mut std::io::sink())
            .ok()
            .filter(|&read| read == n as u64)
            .map(|_| None);
    }
    let mut buf = vec![0; n];
    input.read_exact(&mut buf).ok()?;
    Some(String::from_utf8(buf).ok())
}

/// The initialize handshake, then the loop. Returns after `shutdown` + `exit`, or when the
/// client goes away.
pub fn serve(conn: &Connection) -> Result<(), Error> {
    conn.initialize(serde_json::to_value(capabilities())?)?;
    let mut server = Server {
        world: World::default(),
        conn,
    };
    let mut queue: VecDeque<Message> = VecDeque::new();
    loop {
        while let Ok(m) = conn.receiver.try_recv() {
            queue.push_back(m);
        }
        // The client went away: nothing left to answer.
        let Some(msg) = next(conn, &mut queue) else {
            return Ok(());
        };
        match msg {
            Message::Request(req) => {
                if req.method == "shutdown" {
                    conn.sender
                        .send(Message::Response(Response::new_ok(req.id, ())))?;
                    return after_shutdown(conn, queue);
                }
                let cancelled = queue.iter().any(|m| cancels(m, &req.id));
                let resp = if cancelled {
                    Response::new_err(
                        req.id.clone(),
                        ErrorCode::RequestCanceled as i32,
                        "cancelled".into(),
                    )
                } else {
                    let id = req.id.clone();
                    catch_unwind(AssertUnwindSafe(|| server.request(req))).unwrap_or_else(|_| {
                        Response::new_err(
                            id,
                            ErrorCode::InternalError as i32,
                            "luciac lsp: internal error (a bug: please report it)".into(),
                        )
                    })
                };
                conn.sender.send(Message::Response(resp))?;
            }
            Message::Notification(n) if n.method == "exit" => {
                return Err("`exit` before `shutdown`".into());
            }
            Message::Notification(n) => {
                // A panic while checking a document loses that round of diagnostics only.
                let _ = catch_unwind(AssertUnwindSafe(|| server.notification(n)));
            }
            Message::Response(_) => {}
        }
    }
}

/// The next message: queued first, else from the connection; `None` once the client is gone.
fn next(conn: &Connection, queue: &mut VecDeque<Message>) -> Option<Message> {
    queue.pop_front().or_else(|| conn.receiver.recv().ok())
}

/// After `shutdown`: wait for `exit`, refusing any request meanwhile (the protocol allows only
/// `exit` now). `lsp-server`'s own `handle_shutdown` cannot be used: it reads the connection
/// directly and would miss an `exit` already drained into `queue`.
fn after_shutdown(conn: &Connection, mut queue: VecDeque<Message>) -> Result<(), Error> {
    while let Some(msg) = next(conn, &mut queue) {
        match msg {
            Message::Notification(n) if n.method == "exit" => return Ok(()),
            Message::Request(req) => conn.sender.send(Message::Response(Response::new_err(
                req.id,
                ErrorCode::InvalidRequest as i32,
                "the server is shut down".into(),
            )))?,
            _ => {}
        }
    }
    Ok(())
}

fn cancels(m: &Message, id: &RequestId) -> bool {
    let Message::Notification(n) = m else {
        return false;
    };
    if n.method != "$/cancelRequest" {
        return false;
    }
    let Ok(p) = serde_json::from_value::<lsp_types::CancelParams>(n.params.clone()) else {
        return false;
    };
    match p.id {
        lsp_types::NumberOrString::Number(i) => *id == RequestId::from(i),
        lsp_types::NumberOrString::String(s) => *id == RequestId::from(s),
    }
}

struct Server<'a> {
    world: World,
    conn: &'a Connection,
}

/// A request's answer, or the message of a `RequestFailed` error.
type Answer = Result<serde_json::Value, (ErrorCode, String)>;

fn json<T: serde::Serialize>(v: T) -> Answer {
    serde_json::to_value(v).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

impl Server<'_> {
    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        match self.answer(req) {
            Ok(v) => Response::new_ok(id, v),
            Err((code, msg)) => Response::new_err(id, code as i32, msg),
        }
    }

    /// The project of the document at `p`, the document's index in it and the byte offset.
    fn locate(&self, p: &TextDocumentPositionParams) -> Option<(Project, usize, usize)> {
        let path = uri_to_path(&p.text_document.uri)?;
        let project = self.world.project(&path);
        let (idx, f) = project.file(&path)?;
        let offset = f.lines.offset(p.position);
        Some((project, idx, offset))
    }

    /// Answer a request at a position with `f`; `null` for a document that is not a file.
    fn at<T: serde::Serialize>(
        &self,
        p: &TextDocumentPositionParams,
        f: impl FnOnce(&Project, usize, usize) -> T,
    ) -> Answer {
        match self.locate(p) {
            Some((project, i, off)) => json(f(&project, i, off)),
            None => Ok(serde_json::Value::Null),
        }
    }

    fn answer(&mut self, req: Request) -> Answer {
        fn params<P: serde::de::DeserializeOwned>(req: Request) -> Result<P, (ErrorCode, String)> {
            serde_json::from_value(req.params)
                .map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
        }
        let null = Ok(serde_json::Value::Null);
        match req.method.as_str() {
            HoverRequest::METHOD => {
                let p: lsp_types::HoverParams = params(req)?;
                self.at(&p.text_document_position_params, hover::hover)
            }
            Completion::METHOD => {
                let p: lsp_types::CompletionParams = params(req)?;
                self.at(&p.text_document_position, completion::complete)
            }
            GotoDefinition::METHOD => {
                let p: lsp_types::GotoDefinitionParams = params(req)?;
                self.at(&p.text_document_position_params, navigation::definition)
            }
            References::METHOD => {
                let p: lsp_types::ReferenceParams = params(req)?;
                let with_decl = p.context.include_declaration;
                self.at(&p.text_document_position, |project, i, off| {
                    navigation::references(project, i, off, with_decl)
                })
            }
            PrepareRenameRequest::METHOD => {
                let p: TextDocumentPositionParams = params(req)?;
                let (project, i, off) = self.locate(&p).ok_or(not_found())?;
                navigation::prepare_rename(&project, i, off)
                    .map_err(|m| (ErrorCode::RequestFailed, m))
                    .and_then(json)
            }
            Rename::METHOD => {
                let p: lsp_types::RenameParams = params(req)?;
                let (project, i, off) = self.locate(&p.text_document_position).ok_or(not_found())?;
                navigation::rename(&project, i, off, &p.new_name)
                    .map_err(|m| (ErrorCode::RequestFailed, m))
                    .and_then(json)
            }
            DocumentSymbolRequest::METHOD => {
                let p: lsp_types::DocumentSymbolParams = params(req)?;
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return null;
                };
                let project = self.world.project(&path);
                match project.file(&path) {
                    Some((_, f)) => json(lsp_types::DocumentSymbolResponse::Nested(
                        symbols::outline(f),
                    )),
                    None => null,
                }
            }
            Formatting::METHOD => {
                let p: lsp_types::DocumentFormattingParams = params(req)?;
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return null;
                };
                json(self.format(&path))
            }
            CodeActionRequest::METHOD => {
                let p: lsp_types::CodeActionParams = params(req)?;
                json(diagnostics::code_actions(
                    &p.text_document.uri,
                    &p.context.diagnostics,
                ))
            }
            _ => Err((
                ErrorCode::MethodNotFound,
                format!("luciac lsp does not handle `{}`", req.method),
            )),
        }
    }

    /// One edit replacing the whole text, or none when it is formatted or does not parse
    /// (formatting never rearranges a broken file; its diagnostics say what to fix).
    fn format(&self, path: &Path) -> Option<Vec<TextEdit>> {
        let text = self.world.text(path)?;
        let formatted = crate::fmt::format(&text, 0).ok()?;
        if formatted == text {
            return Some(vec![]);
        }
        let lines = world::LineIndex::new(&text);
        let range = lsp_types::Range::new(lines.position(0), lines.position(text.len()));
        Some(vec![TextEdit::new(range, formatted)])
    }

    fn notification(&mut self, n: Notification) {
        let uri = match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params)
                else {
                    return;
                };
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return;
                };
                self.world.open.insert(path, p.text_document.text);
                p.text_document.uri
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params)
                else {
                    return;
                };
                let Some(path) = uri_to_path(&p.text_document.uri) else {
                    return;
                };
                // Full sync: the last change holds the whole text.
                if let Some(c) = p.content_changes.into_iter().last() {
                    self.world.open.insert(path, c.text);
                }
                p.text_document.uri
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params)
                else {
                    return;
                };
                if let Some(path) = uri_to_path(&p.text_document.uri) {
                    self.world.open.remove(&path);
                }
                self.publish(p.text_document.uri, vec![]);
                return;
            }
            _ => return,
        };
        self.recheck(&uri);
    }

    /// Publish diagnostics for the changed document and, when it is a base, for every open
    /// profile of it (a change in the base can break or fix them).
    fn recheck(&self, uri: &Uri) {
        let Some(path) = uri_to_path(uri) else { return };
        let project = self.world.project(&path);
        let Some((idx, _)) = project.file(&path) else {
            return;
        };
        let mut todo = vec![idx];
        if idx == 0 {
            todo.extend(
                project
                    .files
                    .iter()
                    .enumerate()
                    .skip(1)
                    .filter_map(|(i, f)| self.world.open.contains_key(&f.path).then_some(i)),
            );
        }
        for i in todo {
            let checked = diagnostics::check(&project, i);
            // The changed document keeps the client's own URI spelling.
            let u = if i == idx {
                Some(uri.clone())
            } else {
                project.files.get(i).and_then(|f| path_to_uri(&f.path))
            };
            if let Some(u) = u {
                self.publish(u, checked.diagnostics);
            }
        }
    }

    fn publish(&self, uri: Uri, diagnostics: Vec<lsp_types::Diagnostic>) {
        let params = PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: None,
        };
        let n = Notification::new(PublishDiagnostics::METHOD.to_string(), params);
        let _ = self.conn.sender.send(Message::Notification(n));
    }
}

fn not_found() -> (ErrorCode, String) {
    (
        ErrorCode::InvalidParams,
        "luciac lsp can only read file:// documents".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_garbage() {
        let text = "Content-Length: 2\r\n\r\n{}junk line\r\nContent-Length: x\r\n\r\n\
                    Content-Length: 99999999999\r\n\r\nabc";
        let mut input = std::io::Cursor::new(text.as_bytes());
        assert_eq!(read_frame(&mut input), Some(Some("{}".into())));
        // `junk line` and a bad length: skipped, in step for what follows.
        assert_eq!(read_frame(&mut input), Some(None));
        // Too large, and the input ends before its end.
        assert_eq!(read_frame(&mut input), None);
    }
}
