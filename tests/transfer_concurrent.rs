//! Several transfers of one client at once, each on its own thread, as a
//! gateway runs them: every file arrives intact and every task gets its own
//! done report.
#![cfg(feature = "http")]

mod support;

use std::sync::Arc;

use resmgr::protocol::Direction;
use resmgr::transfer::download::{download, DirSink};
use resmgr::transfer::upload::upload;
use support::fault::{serve, FaultServer, Reply};
use support::*;

#[test]
fn downloads_and_uploads_of_one_client_run_at_once_on_many_threads() {
    const N: usize = 6;
    let (client, rec) = client();
    let dir = tempdir();
    let objects: Arc<Vec<Vec<u8>>> =
        Arc::new((0..N).map(|i| data(300_000 + i * 7919, i as u64)).collect());
    let served = objects.clone();
    // Downloads GET /d/<i>; uploads PUT anything and get 200.
    let server = FaultServer::start(move |_, request| {
        if request.method == "PUT" {
            return Reply::ok(Vec::new());
        }
        let i: usize = request.target.trim_start_matches("/d/").parse().unwrap();
        serve(&served[i], request).into()
    });
    for (i, object) in objects.iter().enumerate() {
        push_download(
            &client,
            &format!("d{i}.bin"),
            object.len() as u64,
            md5_of(object),
            &server.url(&format!("/d/{i}")),
        );
        let path = dir.path().join(format!("u{i}.src"));
        std::fs::write(&path, object).unwrap();
        upload_task(
            &client,
            &format!("u{i}.bin"),
            object.len() as u64,
            md5_of(object),
            &server.url("/u"),
        );
    }
    let threads: Vec<_> = (0..N)
        .flat_map(|i| {
            let (c1, c2) = (client.clone(), client.clone());
            let d = dir.path().to_owned();
            [
                std::thread::spawn(move || {
                    let mut sink = DirSink::new(&d, &format!("d{i}.bin")).unwrap();
                    download(&c1, &format!("d{i}.bin"), &mut sink, &config(), None)
                }),
                std::thread::spawn({
                    let d = dir.path().to_owned();
                    move || {
                        let mut file = std::fs::File::open(d.join(format!("u{i}.src"))).unwrap();
                        upload(&c2, &format!("u{i}.bin"), &mut file, &config(), None)
                    }
                }),
            ]
        })
        .collect();
    for t in threads {
        t.join().unwrap().unwrap();
    }
    for (i, object) in objects.iter().enumerate() {
        assert_eq!(
            &std::fs::read(dir.path().join(format!("d{i}.bin"))).unwrap(),
            object
        );
        assert_eq!(
            rec.only_final_report(Direction::Download, &format!("d{i}.bin")),
            done_report()
        );
        assert_eq!(
            rec.only_final_report(Direction::Upload, &format!("u{i}.bin")),
            done_report()
        );
    }
    let puts: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT")
        .collect();
    assert_eq!(puts.len(), N);
    for put in puts {
        assert!(put.body_complete);
        assert!(
            objects.iter().any(|o| put.body_md5 == md5_of(o)),
            "a PUT carried bytes of no file"
        );
    }
}
