//! The mosquitto plugin's declarations (src/plugin.rs) against the
//! installed `mosquitto_broker.h` / `mosquitto_plugin.h` (Debian's
//! mosquitto-dev): a C program compiled here prints the offsets, sizes and
//! constants the broker uses, and they must be the plugin's. Without the
//! headers this fails (scripts/setup.sh installs them), it never skips.

use std::mem::{offset_of, size_of};
use std::process::Command;

use resmgr_platform::plugin::*;

#[test]
fn the_plugin_declares_what_the_installed_broker_headers_declare() {
    let header = std::path::Path::new("/usr/include/mosquitto_broker.h");
    assert!(
        header.is_file(),
        "{} is missing: install mosquitto-dev (scripts/setup.sh does)",
        header.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("abi.c");
    std::fs::write(
        &src,
        r#"
#include <stddef.h>
#include <stdio.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#define F(s, f) printf(#s "." #f " %zu\n", offsetof(struct s, f))
#define C(c) printf(#c " %d\n", (int)(c))
int main(void) {
    printf("mosquitto_evt_basic_auth %zu\n", sizeof(struct mosquitto_evt_basic_auth));
    F(mosquitto_evt_basic_auth, client); F(mosquitto_evt_basic_auth, username);
    F(mosquitto_evt_basic_auth, password);
    printf("mosquitto_evt_acl_check %zu\n", sizeof(struct mosquitto_evt_acl_check));
    F(mosquitto_evt_acl_check, client); F(mosquitto_evt_acl_check, topic);
    F(mosquitto_evt_acl_check, access); F(mosquitto_evt_acl_check, payloadlen);
    F(mosquitto_evt_acl_check, qos); F(mosquitto_evt_acl_check, retain);
    printf("mosquitto_opt %zu\n", sizeof(struct mosquitto_opt));
    F(mosquitto_opt, key); F(mosquitto_opt, value);
    C(MOSQ_EVT_ACL_CHECK); C(MOSQ_EVT_BASIC_AUTH); C(MOSQ_ERR_SUCCESS); C(MOSQ_ERR_INVAL);
    C(MOSQ_ERR_AUTH); C(MOSQ_ERR_ACL_DENIED); C(MOSQ_ACL_READ); C(MOSQ_ACL_WRITE);
    C(MOSQ_ACL_SUBSCRIBE); C(MOSQ_LOG_NOTICE); C(MOSQ_LOG_WARNING); C(MOSQ_PLUGIN_VERSION);
    return 0;
}
"#,
    )
    .unwrap();
    let exe = dir.path().join("abi");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc}: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&exe).output().unwrap();
    let c = String::from_utf8(out.stdout).unwrap();
    let ours = [
        ("mosquitto_evt_basic_auth", size_of::<EvtBasicAuth>()),
        (
            "mosquitto_evt_basic_auth.client",
            offset_of!(EvtBasicAuth, client),
        ),
        (
            "mosquitto_evt_basic_auth.username",
            offset_of!(EvtBasicAuth, username),
        ),
        (
            "mosquitto_evt_basic_auth.password",
            offset_of!(EvtBasicAuth, password),
        ),
        ("mosquitto_evt_acl_check", size_of::<EvtAclCheck>()),
        (
            "mosquitto_evt_acl_check.client",
            offset_of!(EvtAclCheck, client),
        ),
        (
            "mosquitto_evt_acl_check.topic",
            offset_of!(EvtAclCheck, topic),
        ),
        (
            "mosquitto_evt_acl_check.access",
            offset_of!(EvtAclCheck, access),
        ),
        (
            "mosquitto_evt_acl_check.payloadlen",
            offset_of!(EvtAclCheck, payloadlen),
        ),
        ("mosquitto_evt_acl_check.qos", offset_of!(EvtAclCheck, qos)),
        (
            "mosquitto_evt_acl_check.retain",
            offset_of!(EvtAclCheck, retain),
        ),
        ("mosquitto_opt", size_of::<MosquittoOpt>()),
        ("mosquitto_opt.key", offset_of!(MosquittoOpt, key)),
        ("mosquitto_opt.value", offset_of!(MosquittoOpt, value)),
        ("MOSQ_EVT_ACL_CHECK", MOSQ_EVT_ACL_CHECK as usize),
        ("MOSQ_EVT_BASIC_AUTH", MOSQ_EVT_BASIC_AUTH as usize),
        ("MOSQ_ERR_SUCCESS", MOSQ_ERR_SUCCESS as usize),
        ("MOSQ_ERR_INVAL", MOSQ_ERR_INVAL as usize),
        ("MOSQ_ERR_AUTH", MOSQ_ERR_AUTH as usize),
        ("MOSQ_ERR_ACL_DENIED", MOSQ_ERR_ACL_DENIED as usize),
        ("MOSQ_ACL_READ", MOSQ_ACL_READ as usize),
        ("MOSQ_ACL_WRITE", MOSQ_ACL_WRITE as usize),
        ("MOSQ_ACL_SUBSCRIBE", MOSQ_ACL_SUBSCRIBE as usize),
        ("MOSQ_LOG_NOTICE", MOSQ_LOG_NOTICE as usize),
        ("MOSQ_LOG_WARNING", MOSQ_LOG_WARNING as usize),
        ("MOSQ_PLUGIN_VERSION", MOSQ_PLUGIN_VERSION as usize),
    ];
    let theirs: std::collections::HashMap<&str, usize> = c
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k, v.parse().unwrap()))
        .collect();
    for (name, value) in ours {
        assert_eq!(
            theirs.get(name),
            Some(&value),
            "{name}: the header says {:?}, the plugin {value}",
            theirs.get(name)
        );
    }
}
