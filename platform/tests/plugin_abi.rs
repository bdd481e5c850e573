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
    // As the C program's F and C: "struct.field" with the plugin's offset,
    // "CONSTANT" with the plugin's value.
    macro_rules! field {
        ($c:literal, $t:ty, $f:ident) => {
            (concat!($c, ".", stringify!($f)), offset_of!($t, $f))
        };
    }
    macro_rules! constant {
        ($c:ident) => {
            (stringify!($c), $c as usize)
        };
    }
    let ours = [
        ("mosquitto_evt_basic_auth", size_of::<EvtBasicAuth>()),
        field!("mosquitto_evt_basic_auth", EvtBasicAuth, client),
        field!("mosquitto_evt_basic_auth", EvtBasicAuth, username),
        field!("mosquitto_evt_basic_auth", EvtBasicAuth, password),
        ("mosquitto_evt_acl_check", size_of::<EvtAclCheck>()),
        field!("mosquitto_evt_acl_check", EvtAclCheck, client),
        field!("mosquitto_evt_acl_check", EvtAclCheck, topic),
        field!("mosquitto_evt_acl_check", EvtAclCheck, access),
        field!("mosquitto_evt_acl_check", EvtAclCheck, payloadlen),
        field!("mosquitto_evt_acl_check", EvtAclCheck, qos),
        field!("mosquitto_evt_acl_check", EvtAclCheck, retain),
        ("mosquitto_opt", size_of::<MosquittoOpt>()),
        field!("mosquitto_opt", MosquittoOpt, key),
        field!("mosquitto_opt", MosquittoOpt, value),
        constant!(MOSQ_EVT_ACL_CHECK),
        constant!(MOSQ_EVT_BASIC_AUTH),
        constant!(MOSQ_ERR_SUCCESS),
        constant!(MOSQ_ERR_INVAL),
        constant!(MOSQ_ERR_AUTH),
        constant!(MOSQ_ERR_ACL_DENIED),
        constant!(MOSQ_ACL_READ),
        constant!(MOSQ_ACL_WRITE),
        constant!(MOSQ_ACL_SUBSCRIBE),
        constant!(MOSQ_LOG_NOTICE),
        constant!(MOSQ_LOG_WARNING),
        constant!(MOSQ_PLUGIN_VERSION),
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
