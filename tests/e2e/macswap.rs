//! macswap: every frame of at least 14 bytes comes back with its addresses swapped and
//! every other byte (and its timestamp) unchanged; shorter frames are dropped.

use crate::support::*;

#[test]
fn swaps_addresses_and_keeps_everything_else() {
    let trace = traffic(&["--packets", "20000", "--flows", "2000", "--seed", "7"]);
    let dir = tempdir();
    let out = dir.path().join("swapped.pcap");
    let so = example("macswap");
    let stdout = ok(&run_in(dir.path(), &[
        "run",
        so.to_str().unwrap(),
        "--pcap",
        trace.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let input = read_pcap(&trace);
    let output = read_pcap(&out);
    assert_eq!(input.len(), 20000);
    assert_eq!(output.len(), input.len(), "macswap dropped valid frames");
    for (i, (a, b)) in input.iter().zip(&output).enumerate() {
        assert_eq!(b.data.len(), a.data.len(), "packet {i}: length changed");
        assert_eq!(b.data[0..6], a.data[6..12], "packet {i}: destination is not the old source");
        assert_eq!(b.data[6..12], a.data[0..6], "packet {i}: source is not the old destination");
        assert_eq!(b.data[12..], a.data[12..], "packet {i}: bytes after the addresses changed");
        assert_eq!(b.time_ns, a.time_ns, "packet {i}: timestamp changed");
        assert_eq!(b.orig_len, a.orig_len, "packet {i}: original length changed");
    }
    assert!(stdout.contains("macswap"), "{stdout}");
    assert!(stdout.contains("20000 packets in, 20000 out"), "{stdout}");
    assert!(stdout.contains("Mpps"), "{stdout}");
}

#[test]
fn short_frames_are_dropped_without_harm() {
    let dir = tempdir();
    let input = dir.path().join("short.pcap");
    let mut frames: Vec<(u64, Vec<u8>)> = (0..=20usize).map(|n| (n as u64, vec![0xAB; n])).collect();
    frames.push((100, udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 60)));
    write_pcap(&input, &frames);
    let out = dir.path().join("out.pcap");
    let stdout = ok(&run_in(dir.path(), &[
        "run",
        example("macswap").to_str().unwrap(),
        "--pcap",
        "short.pcap",
        "--out",
        "out.pcap",
    ]));
    let got = read_pcap(&out);
    // Frames of 14..=20 bytes and the UDP frame survive; 0..=13 are dropped.
    assert_eq!(got.len(), 7 + 1);
    assert!(got.iter().all(|p| p.data.len() >= 14));
    assert!(stdout.contains("22 packets in, 8 out"), "{stdout}");
}

#[test]
fn output_is_readable_by_tcpdump() {
    let Ok(probe) = std::process::Command::new("tcpdump").arg("--version").output() else {
        panic!("tcpdump is not installed: run scripts/setup.sh");
    };
    assert!(probe.status.success());
    let trace = traffic(&["--packets", "500", "--flows", "50", "--seed", "3"]);
    let dir = tempdir();
    ok(&run_in(dir.path(), &[
        "run",
        example("macswap").to_str().unwrap(),
        "--pcap",
        trace.to_str().unwrap(),
        "--out",
        "o.pcap",
    ]));
    let td = std::process::Command::new("tcpdump")
        .args(["-nn", "-e", "-r"])
        .arg(dir.path().join("o.pcap"))
        .output()
        .unwrap();
    assert!(td.status.success(), "{}", String::from_utf8_lossy(&td.stderr));
    let text = String::from_utf8_lossy(&td.stdout);
    // One summary line per packet starts with its timestamp; tcpdump may add decoded
    // payload lines (e.g. VXLAN on port 4789) after it.
    let is_stamp = |l: &&str| l.len() > 9 && l.as_bytes()[2] == b':' && l.as_bytes()[8] == b'.';
    assert_eq!(text.lines().filter(is_stamp).count(), 500, "{text}");
    assert!(text.contains("IPv4"), "{text}");
}
