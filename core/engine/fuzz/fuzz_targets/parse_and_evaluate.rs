//! Arbitrary bytes as a document and as a context: parsing may reject them, but
//! nothing may panic, and whatever parses must compile and evaluate.

#![no_main]

use flagedge_engine::{CompiledEnvironment, EnvironmentDocument, EvaluationContext, Identity, KeyKind};
use libfuzzer_sys::fuzz_target;

fn exercise(environment: &CompiledEnvironment, identifier: &str) {
    let _ = environment.environment_flags_json(KeyKind::Client);
    let traits = vec![
        ("age".to_string(), serde_json::json!(42)),
        ("plan".to_string(), serde_json::json!(identifier)),
        ("$.identity.identifier".to_string(), serde_json::json!("x")),
    ];
    let identity = Identity { identifier, key: None, traits: &traits };
    let evaluation = environment.evaluate(Some(&identity));
    let mut body = Vec::new();
    evaluation.write_flags_json(environment, KeyKind::Server, &mut body);
    let _ = evaluation.to_result_json(environment);
    let _ = environment.explain(Some(&identity)).to_string();
}

fuzz_target!(|data: &[u8]| {
    if let Ok(document) = EnvironmentDocument::parse(data) {
        if let Ok(environment) = CompiledEnvironment::from_document(&document) {
            exercise(&environment, "fuzz-user");
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(context) = EvaluationContext::parse(text) {
            if let Ok(environment) = CompiledEnvironment::from_context(&context) {
                let identifier = context.identity.as_ref().map_or("fuzz-user", |i| i.identifier.as_str());
                exercise(&environment, identifier);
            }
        }
    }
});
