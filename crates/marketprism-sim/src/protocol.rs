//! Binance's WebSocket method frames and stream names, server side.

use serde::Deserialize;
use serde_json::{json, Value};

/// A client request: `{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}`.
#[derive(Debug, Deserialize)]
pub(crate) struct MethodCall {
    pub(crate) method: String,
    #[serde(default)]
    pub(crate) params: Vec<Value>,
    pub(crate) id: Value,
}

/// The reply to a successful call.
pub(crate) fn result_reply(result: Value, id: &Value) -> String {
    json!({"result": result, "id": id}).to_string()
}

/// The reply to a refused call, as Binance formats it.
pub(crate) fn error_reply(code: i64, message: &str, id: &Value) -> String {
    json!({"error": {"code": code, "msg": message}, "id": id}).to_string()
}

/// Splits a stream name into symbol and channel: `btcusdt@trade` → (`BTCUSDT`, `trade`).
pub(crate) fn parse_stream(stream: &str) -> Option<(String, &str)> {
    let (symbol, channel) = stream.split_once('@')?;
    if symbol.is_empty()
        || !symbol
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
    {
        return None;
    }
    Some((symbol.to_ascii_uppercase(), channel))
}
