//! One real client: Debian's Neovim (0.7: `vim.lsp.start_client`), headless, runs
//! `luciac lsp` on a copy of the repository's declaration with a misspelt reference. Neovim
//! writes what the server told it to a JSON file; the assertions are here.
//!
//! `scripts/install-validators.sh` installs Neovim. Without it the test is skipped, except
//! under `LUCIAC_REQUIRE_VALIDATORS=1` (what `scripts/test.sh` sets), where that is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::lsp_position;
use serde_json::Value;

const SCRIPT: &str = r#"
local env = vim.env
local result = { diagnostics = vim.NIL }
local client_id = vim.lsp.start_client({
  cmd = { env.LUCIAC_BIN, "lsp" },
  root_dir = env.LUCIAC_ROOT,
  handlers = {
    ["textDocument/publishDiagnostics"] = function(_, params)
      if params.uri:match("/lucia%.kdl$") then
        result.diagnostics = params.diagnostics
      end
    end,
  },
})
vim.cmd("edit " .. env.LUCIAC_ROOT .. "/lucia.kdl")
local buf = vim.api.nvim_get_current_buf()
vim.lsp.buf_attach_client(buf, client_id)
vim.wait(15000, function() return result.diagnostics ~= vim.NIL end, 20)
local client = vim.lsp.get_client_by_id(client_id)
local function at(line, col)
  return {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    position = { line = tonumber(line), character = tonumber(col) },
  }
end
local hover = client.request_sync("textDocument/hover", at(env.HOVER_LINE, env.HOVER_COL), 10000, buf)
result.hover = hover and hover.result or vim.NIL
local completion = client.request_sync("textDocument/completion", at(env.COMPLETE_LINE, env.COMPLETE_COL), 10000, buf)
result.completion = completion and completion.result or vim.NIL
local f = assert(io.open(env.LUCIAC_OUT, "w"))
f:write(vim.fn.json_encode(result))
f:close()
vim.lsp.stop_client(client_id)
vim.cmd("qall!")
"#;

fn nvim() -> Option<std::path::PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|d| d.join("nvim"))
        .find(|p| p.is_file())
}

#[test]
fn neovim_gets_diagnostics_hover_and_completion() {
    let Some(nvim) = nvim() else {
        if std::env::var_os("LUCIAC_REQUIRE_VALIDATORS").is_some_and(|v| v == "1") {
            panic!("nvim is not on PATH: scripts/install-validators.sh installs it");
        }
        eprintln!("skipped: nvim is not on PATH (scripts/install-validators.sh installs it)");
        return;
    };
    let dir = common::project();
    let root = dir.path().canonicalize().expect("canonical");
    let text = std::fs::read_to_string(root.join("lucia.kdl"))
        .expect("read")
        .replace("{param.ha-url}", "{param.ha-ulr}");
    std::fs::write(root.join("lucia.kdl"), &text).expect("write");
    std::fs::write(root.join("test.lua"), SCRIPT).expect("script");
    let out_file = root.join("out.json");
    let (hl, hc) = lsp_position(&text, "param \"log-level\"", 8);
    let (cl, cc) = lsp_position(&text, "{param.environment}", 7);
    let mut child = Command::new(&nvim)
        .args(["--headless", "--clean", "-u", "NONE", "-c"])
        .arg(format!("luafile {}", root.join("test.lua").display()))
        .env("LUCIAC_BIN", env!("CARGO_BIN_EXE_luciac"))
        .env("LUCIAC_ROOT", &root)
        .env("LUCIAC_OUT", &out_file)
        .env("HOVER_LINE", hl.to_string())
        .env("HOVER_COL", hc.to_string())
        .env("COMPLETE_LINE", cl.to_string())
        .env("COMPLETE_COL", cc.to_string())
        .current_dir(&root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nvim");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("nvim did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("nvim output");
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap_or_else(|e| {
            panic!(
                "nvim wrote no result ({e}); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        }))
        .expect("json");

    // The misspelt reference, with the range of `{param.ha-ulr}`'s name.
    let diags = result["diagnostics"]
        .as_array()
        .expect("diagnostics arrived");
    let d = diags
        .iter()
        .find(|d| d["code"] == "E0030")
        .unwrap_or_else(|| panic!("no E0030 in {diags:?}"));
    let (line, col) = lsp_position(&text, "{param.ha-ulr}", 0);
    assert_eq!(d["range"]["start"]["line"], line);
    assert_eq!(d["range"]["start"]["character"], col);
    assert_eq!(d["range"]["end"]["character"], col + "{param.ha-ulr}".len());
    assert!(
        d["message"]
            .as_str()
            .is_some_and(|m| m.contains("did you mean `ha-url`"))
    );

    let hover = result["hover"]["contents"]["value"].as_str().unwrap_or("");
    assert!(
        hover.contains("Default log level"),
        "hover: {}",
        result["hover"]
    );

    let labels: Vec<&str> = result["completion"]
        .as_array()
        .expect("completion items")
        .iter()
        .filter_map(|i| i["label"].as_str())
        .collect();
    for p in [
        "ha-url",
        "log-level",
        "environment",
        "http-port",
        "wyoming-port",
    ] {
        assert!(labels.contains(&p), "{p} not offered: {labels:?}");
    }
}
