#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into fuzz/seeds/.

The messages are the protocol's own: the examples of the platform's
documentation (shared/seed-resource-management.txt, verbatim, masked MD5s
and trailing commas included) and the messages the tests feed
(tests/client.rs, tests/c/*.c). Run it again after changing a target's
input format; the files it writes are committed.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MD5 = "a567907174aaaaa3bb9a2bb20716fd97"
MD5B = "900150983cd24fb0d6963f7d28e17f72"
URL = "https://iothub.cos.ap-guangzhou.myqcloud.com/x?sign=1"
RS, US = b"\x1e", b"\x1f"


def write(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def j(**kw):
    return json.dumps(kw, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- down_message
DOC = {
    "doc_create_upload_task_rsp": '{\n"type":"create_upload_task_rsp",\n"size":100,\n"name":"zxc",\n"md5sum":"************",\n"url":"https://iothub.cos.ap-guangzhou.myqcloud.com/********"\n}',
    "doc_report_upload_progress_rsp": '{\n"type":"report_upload_progress_rsp",\n"result_code":0,\n"result_msg":"ok"\n}',
    "doc_get_download_task_rsp": '{\n"type":"get_download_task_rsp",\n"size":372338,\n"name":"AAAA",\n"md5sum":"a567907174*****3bb9a2bb20716fd97",\n"url":"https://iothub.cos.ap-guangzhou.myqcloud.com/********"\n}',
    "doc_report_download_progress_rsp": '{\n"type":"report_download_progress_rsp",\n"result_code":0,\n"result_msg":"ok"\n}',
    "doc_create_upload_task_trailing_comma": '{\n"type":"create_upload_task",\n"size":100,\n"name":"zxc",\n"md5sum":"************",\n}',
}
for name, text in DOC.items():
    write("down_message", name, text)

msgs = {
    "upload_url_zxc": j(type="create_upload_task_rsp", size=100, name="zxc", md5sum=MD5, url=URL),
    "upload_url_fw": j(type="create_upload_task_rsp", size=372338, name="fw.bin", md5sum=MD5B, url=URL),
    "upload_url_mismatch": j(type="create_upload_task_rsp", size=101, name="zxc", md5sum=MD5, url=URL),
    "upload_refused": j(type="create_upload_task_rsp", name="zxc", result_code=-5, result_msg="quota"),
    "upload_refused_noname": j(type="create_upload_task_rsp", result_code=-7, result_msg="quota"),
    "download_answer": j(type="get_download_task_rsp", size=372338, name="AAAA", md5sum=MD5, url=URL),
    "download_push": j(type="download", size=1 << 40, name="日本.txt", md5sum=MD5.upper(), url="http://127.0.0.1:8080/obj?X-Amz-Signature=ab%2Fcd"),
    "no_task_empty": j(type="get_download_task_rsp"),
    "no_task_code": j(type="get_download_task_rsp", result_code=404, result_msg="no task"),
    "no_task_blank": '{"type":"get_download_task_rsp","name":"","url":"","size":0,"md5sum":""}',
    "no_task_null": '{"type":"get_download_task_rsp","name":null,"url":null}',
    "ack_upload": j(type="report_upload_progress_rsp", result_code=0, result_msg="ok"),
    "ack_download_reject": j(type="report_download_progress_rsp", result_code=-3, result_msg="expired"),
    "upload_result": '{"type":"upload_result","report":{"name":"zxc","progress":{"state":"done","result_code":0,"result_msg":"success"}}}',
    "upload_result_flat": '{"type":"upload_result","report":{"progress":{"result_code":-4}}}',
    "escaped_url": '{"type":"create_upload_task_rsp","size":100,"name":"z\\u0078c","md5sum":"%s","url":"https:\\/\\/h\\/k?a=1\\u0026b=2"}' % MD5,
    "unknown_fields": '{"extra":{"deep":[1,2,{"x":null}]},"type":"download","size":5,"name":"n","md5sum":"%s","url":"%s","ts":1.5}' % (MD5, URL),
    "unknown_type": j(type="firmware_update"),
    "ipv6_url": j(type="download", size=0, name="e", md5sum="d41d8cd98f00b204e9800998ecf8427e", url="https://[::1]:8443/a?b=c"),
    "max_size": '{"type":"download","size":18446744073709551615,"name":"big","md5sum":"%s","url":"%s"}' % (MD5, URL),
    "deep": '{"x":' + "[" * 40 + "]" * 40 + "}",
}
for name, text in msgs.items():
    write("down_message", name, text)

# A conversation: URL, duplicate URL, acks in both directions, answers to
# the outstanding queries, a push, a message on a wrong topic.
conv = [
    msgs["upload_url_zxc"],
    msgs["upload_url_zxc"],
    msgs["ack_upload"],
    msgs["download_answer"],
    msgs["no_task_code"],
    msgs["download_push"],
    msgs["ack_download_reject"],
    msgs["upload_result"],
]
write("down_message", "conversation", RS.join(m.encode() for m in conv))
write("down_message", "wrong_topic", US + b"$resource/down/service/PRODUCTID/device2" + US + msgs["ack_upload"].encode()
      + RS + US + b"$resource/down/service/PRODUCTID/device1" + US + msgs["ack_upload"].encode())

# ---------------------------------------------------------------- resume_state
write("resume_state", "valid", '{"version":1,"name":"fw.bin","size":1000,"md5":"%s","offset":400}' % MD5B)
write("resume_state", "escaped_name", '{"version":1,"name":"fw \\"v2\\".bin","size":1099511627776,"md5":"%s","offset":12345}' % MD5B)
write("resume_state", "complete", '{"version":1,"name":"a","size":3,"md5":"%s","offset":3}' % MD5B)
write("resume_state", "future_version", '{"version":2,"name":"fw.bin","size":1000,"md5":"%s","offset":400}' % MD5B)
write("resume_state", "torn", '{"version":1,"name":"fw.bin","size":1000,"md5":"%s","off' % MD5B)

# ---------------------------------------------------------------- download_response
def case(size, resume=0, retries=2, checkpoint=1 << 20, responses=()):
    head = "size %d\nresume %d\nretries %d\ncheckpoint %d\n" % (size, resume, retries, checkpoint)
    return head + "\n".join("<<<\n" + r for r in responses)


def resp(status, headers=(), body=""):
    return "HTTP/1.1 %s\n%s\n%s" % (status, "".join(h + "\n" for h in headers), body)


S = 1000
write("download_response", "ok_200", case(S, responses=[resp("200 OK", ["Content-Length: 1000"], "@@0-1000@@")]))
write("download_response", "ok_200_until_close", case(S, responses=[resp("200 OK", ["Connection: close"], "@@0-1000@@")]))
write("download_response", "ok_chunked", case(S, responses=[resp("200 OK", ["Transfer-Encoding: chunked"], "1f4\r\n@@0-500@@\r\n1f4\r\n@@500-1000@@\r\n0\r\n\r\n")]))
write("download_response", "resume_206", case(S, resume=400, responses=[resp("206 Partial Content", ["Content-Range: bytes 400-999/1000", "Content-Length: 600"], "@@400-1000@@")]))
write("download_response", "resume_ignored_200", case(S, resume=400, responses=[resp("200 OK", ["Content-Length: 1000"], "@@0-1000@@")]))
write("download_response", "wrong_range_then_200", case(S, resume=400, responses=[
    resp("206 Partial Content", ["Content-Range: bytes 0-999/1000", "Content-Length: 1000"], "@@0-1000@@"),
    resp("200 OK", ["Content-Length: 1000"], "@@0-1000@@")]))
write("download_response", "cut_then_resume", case(S, checkpoint=100, responses=[
    resp("200 OK", ["Content-Length: 1000"], "@@0-400@@"),
    resp("206 Partial Content", ["Content-Range: bytes 400-999/1000", "Content-Length: 600"], "@@400-1000@@")]))
write("download_response", "416_then_200", case(S, resume=999, responses=[
    resp("416 Range Not Satisfiable", ["Content-Range: bytes */1000", "Content-Length: 0"]),
    resp("200 OK", ["Content-Length: 1000"], "@@0-1000@@")]))
write("download_response", "500_then_200", case(S, responses=[
    resp("500 Internal Server Error", ["Content-Length: 0"]),
    resp("503 Slow Down", ["Retry-After: 0", "Content-Length: 0"]),
    resp("200 OK", ["Content-Length: 1000"], "@@0-1000@@")]))
write("download_response", "404", case(S, responses=[resp("404 Not Found", ["Content-Type: application/xml"],
    "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>")]))
write("download_response", "403_expired", case(S, responses=[resp("403 Forbidden", ["Content-Type: application/xml"],
    "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")]))
write("download_response", "too_long", case(S, responses=[resp("200 OK", ["Content-Length: 1001"], "@@0-1000@@x")]))
write("download_response", "too_long_no_length", case(S, responses=[resp("200 OK", [], "@@0-1000@@@@0-10@@")]))
write("download_response", "wrong_bytes", case(S, responses=[resp("200 OK", ["Content-Length: 1000"], "@@1-1000@@x")]))
write("download_response", "empty_object", case(0, responses=[resp("200 OK", ["Content-Length: 0"])]))
write("download_response", "nothing_then_close", case(S, retries=1))
write("download_response", "redirect", case(S, responses=[resp("302 Found", ["Location: http://127.0.0.1:1/x", "Content-Length: 0"])]))
write("download_response", "100_continue", case(16, responses=["HTTP/1.1 100 Continue\n\n" + resp("200 OK", ["Content-Length: 16"], "@@0-16@@")]))

# ---------------------------------------------------------------- c_abi
# Mirrors the reader in fuzz_targets/c_abi.rs: one opcode byte, then the
# operation's arguments. Pools: NAMES fw.bin log.bin zxc AAAA 日本.txt "a b";
# MD5S 0..3; SIZES 0 1 100 372338 2^32 2^64-1; URLS 0..2; DOWN_TYPES
# create_upload_task_rsp get_download_task_rsp download
# report_upload_progress_rsp report_download_progress_rsp upload_result
# firmware_update.
def u32(n):
    return struct.pack("<I", n & 0xFFFFFFFF)


def tmpl(kind, name=None, size=None, md5=None, url=None, code=None, msg=False, report=None, extra=False):
    mask, args = 0, b""
    if name is not None:
        mask |= 1; args += bytes([name])
    if size is not None:
        mask |= 2; args += bytes([size])
    if md5 is not None:
        mask |= 4; args += bytes([md5])
    if url is not None:
        mask |= 8; args += bytes([url])
    if code is not None:
        mask |= 16; args += bytes([code & 0xFF])
    if msg:
        mask |= 32
    if report is not None:
        mask |= 64; args += bytes([report[0], report[1] & 0xFF])
    if extra:
        mask |= 128
    return bytes([0, kind, mask]) + args


VALID = b"\x00"
upload = VALID + b"".join([
    bytes([4, 2, 0, 2, 0]),                         # create_upload_task zxc 100 md5[0]
    tmpl(0, name=2, size=2, md5=0, url=0),          # its URL
    tmpl(0, name=2, size=2, md5=0, url=1),          # a fresh URL: duplicate
    bytes([8, 2, 0]) + u32(50) + bytes([0, 0]),     # upload_progress 50 bytes
    bytes([6, 2, 0, 50, 0, 0, 0]),                  # report uploading 100%? (percent 50*2)
    tmpl(3, code=0, msg=True),                      # ack
    bytes([6, 2, 1, 0, 0, 0, 0]),                   # report done
    tmpl(5, report=(2, 0)),                         # upload_result
    bytes([16, 40]),                                # last error
])
write("c_abi", "upload_flow", upload)
download = VALID + b"".join([
    bytes([5]),                                     # get_download_task
    tmpl(1, name=3, size=3, md5=0, url=1),          # answer AAAA
    tmpl(2, name=3, size=3, md5=0, url=0),          # pushed again: duplicate
    bytes([9, 3, 0]) + u32(372338) + bytes([0, 1]), # download_progress 100%
    bytes([10, 2, 3]),                              # cancel download AAAA
    bytes([7, 3, 2, 0, 0xFF, 2, 1]),                # report fail -1 "disk full"
    tmpl(4, code=-3),                               # ack rejecting it
    bytes([5]), tmpl(1, code=1, msg=True),          # no task
])
write("c_abi", "download_flow", download)
md5ops = VALID + b"".join([
    bytes([12]), bytes([13, 0, 3]) + b"abc" + bytes([0]), bytes([14, 0, 0]),
    bytes([13, 0, 1, 0, 2]), bytes([14, 0, 1]), bytes([15, 0]),
    bytes([19]), bytes([17]) + u32(-99), bytes([17]) + u32(12345), bytes([16, 1]), bytes([16, 0]),
])
write("c_abi", "md5_and_null", md5ops)
raw = json.dumps({"type": "create_upload_task_rsp", "size": 100, "name": "zxc", "md5sum": MD5, "url": URL}).encode()
reenter = VALID + b"".join([
    bytes([18, 4]),                                 # re-enter from callbacks
    bytes([4, 2, 0, 2, 0]),
    bytes([2]) + struct.pack("<H", len(raw)) + raw, # raw payload
    bytes([3, 201, 5]) + b"wrong" + bytes([2]) + b"{}" + bytes([0]),
    bytes([18, 3, 0xF0]),                           # publishes fail now
    bytes([5]), bytes([4, 0, 0, 1, 1]),
    bytes([11]) + u32(0) + bytes([0]), bytes([11]) + u32(1000) + bytes([1]),
    bytes([18, 0]), bytes([5]),
])
write("c_abi", "reenter_and_failing_publish", reenter)
write("c_abi", "bad_ids", bytes([0xF0, 1, 200, 3]) + b"a/b" + bytes([0xFF]))
