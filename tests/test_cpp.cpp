// test_cpp.cpp - the C++ API (include/zmqobs.hpp), run by tests/test_cpp.sh:
// exact counts for single-part and multipart send/recv over inproc PAIR
// and tcp REQ/REP (latency timed on every cycle), EAGAIN as an empty
// result counted as would-block, zmq::error_t for I/O errors and
// zmqobs::error with the right errno for the library's, format() and
// serve() (a raw TCP client reads /metrics), on_event (LISTENING, a
// throwing callback, replacement, an observer moved), move semantics.
// Prints one line per test and exits 1 if any check failed.
#include <zmqobs.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace
{
int failures = 0;

void report (bool ok, const std::string &what, int line)
{
    if (!ok) {
        std::fprintf (stderr, "test_cpp.cpp:%d: %s\n", line, what.c_str ());
        failures++;
    }
}

void expect_u (uint64_t got, uint64_t want, const char *expr, int line)
{
    report (got == want,
            std::string (expr) + " is " + std::to_string (got) + ", expected "
                + std::to_string (want),
            line);
}

void expect_s (const std::string &got, const std::string &want, const char *expr, int line)
{
    report (got == want, std::string (expr) + " is \"" + got + "\", expected \"" + want + "\"",
            line);
}

#define EXPECT(cond) report (!!(cond), #cond, __LINE__)
#define EXPECT_U(got, want) expect_u ((got), (want), #got, __LINE__)
#define EXPECT_S(got, want) expect_s ((got), (want), #got, __LINE__)

unsigned slot (const char *errno_name)
{
    for (unsigned i = 0; i < ZMQOBS_ERRNO_SLOTS; i++)
        if (std::strcmp (zmqobs_errno_slot_name (i), errno_name) == 0)
            return i;
    return ZMQOBS_ERRNO_SLOTS;
}

uint64_t errors (const zmqobs::socket &s, int op, const char *errno_name)
{
    return s.stats ().errors[op][slot (errno_name)];
}

uint64_t events (const zmqobs::socket &s, uint32_t event)
{
    zmqobs_stats_t st = s.stats ();
    for (unsigned i = 0; i < ZMQOBS_EVENT_SLOTS; i++)
        if ((1u << i) == event)
            return st.events[i];
    return UINT64_MAX;
}

std::string str (const zmq::message_t &m)
{
    return m.to_string ();
}

zmqobs_options_t host_driven ()
{
    zmqobs_options_t o = zmqobs::default_options ();
    o.host_driven = 1;
    o.no_process_metrics = 1;
    return o;
}

// Runs f and expects it to throw zmqobs::error with errno err and a what()
// that starts with prefix.
template <class F> void expect_error (F f, int err, const char *prefix, int line)
{
    try {
        f ();
        report (false, std::string ("no zmqobs::error ") + prefix, line);
    } catch (const zmqobs::error &e) {
        report (e.num () == err && e.code () == std::error_code (err, std::generic_category ())
                    && std::string (e.what ()).compare (0, std::strlen (prefix), prefix) == 0,
                std::string ("zmqobs::error ") + e.what () + " (" + std::to_string (e.num ())
                    + "), expected " + prefix + " " + std::to_string (err),
                line);
    }
}
#define EXPECT_ERROR(f, err, prefix) expect_error ((f), (err), (prefix), __LINE__)

template <class F> void expect_zmq_error (F f, int err, int line)
{
    try {
        f ();
        report (false, "no zmq::error_t " + std::to_string (err), line);
    } catch (const zmq::error_t &e) {
        report (e.num () == err,
                "zmq::error_t " + std::to_string (e.num ()) + ", expected " + std::to_string (err),
                line);
    }
}
#define EXPECT_ZMQ_ERROR(f, err) expect_zmq_error ((f), (err), __LINE__)

void pass (const char *name)
{
    std::printf ("test_cpp: %s: %s\n", name, failures ? "FAILED so far" : "ok");
}

// --- single parts over inproc PAIR ----------------------------------------
void test_pair_single ()
{
    zmq::context_t ctx;
    zmqobs::observer obs (ctx, host_driven ());
    zmq::socket_t a (ctx, zmq::socket_type::pair), b (ctx, zmq::socket_type::pair);
    zmqobs::socket sa = obs.attach (a, "a");
    zmqobs::socket sb = obs.attach (b, std::string ("b"));
    EXPECT_S (sa.name (), "a");
    EXPECT (sa.ref () == zmq::socket_ref (a));
    EXPECT (sb.handle () != nullptr);
    a.bind ("inproc://cpp-pair");
    b.connect ("inproc://cpp-pair");

    // three sends, one of each overload
    zmq::send_result_t r = sa.send (zmq::buffer ("hello", 5), zmq::send_flags::none);
    EXPECT (r.has_value () && *r == 5);
    zmq::message_t m ("abc", 3);
    r = sa.send (m, zmq::send_flags::none);
    EXPECT (r && *r == 3);
    EXPECT_U (m.size (), 0); // libzmq took the content
    r = sa.send (zmq::message_t ("xy", 2), zmq::send_flags::none);
    EXPECT (r && *r == 2);

    // three receives: a message, a truncated buffer, a buffer
    zmq::message_t got;
    zmq::recv_result_t rr = sb.recv (got);
    EXPECT (rr && *rr == 5);
    EXPECT_S (str (got), "hello");
    char buf[8] = {};
    zmq::recv_buffer_result_t rb = sb.recv (zmq::buffer (buf, 2));
    EXPECT (rb && rb->size == 2 && rb->untruncated_size == 3 && rb->truncated ());
    EXPECT_S (std::string (buf, 2), "ab");
    rb = sb.recv (zmq::buffer (buf), zmq::recv_flags::none);
    EXPECT (rb && rb->size == 2 && !rb->truncated ());

    zmqobs_stats_t st = sa.stats ();
    EXPECT_U (st.msgs_sent, 3);
    EXPECT_U (st.bytes_sent, 10);
    EXPECT_U (st.msgs_received, 0);
    st = sb.stats ();
    EXPECT_U (st.msgs_received, 3);
    EXPECT_U (st.bytes_received, 10); // the truncated part counts whole
    EXPECT_U (st.msgs_sent, 0);

    // EAGAIN: an empty result, counted as would-block, nothing else
    EXPECT (!sb.recv (got, zmq::recv_flags::dontwait));
    EXPECT (!sb.recv (zmq::buffer (buf), zmq::recv_flags::dontwait));
    std::vector<zmq::message_t> parts;
    EXPECT (!zmqobs::recv_multipart (sb, std::back_inserter (parts), zmq::recv_flags::dontwait));
    EXPECT_U (parts.size (), 0);
    EXPECT_U (errors (sb, ZMQOBS_OP_RECV, "EAGAIN"), 3);
    EXPECT_U (sb.stats ().msgs_received, 3);

    zmq::socket_t lone (ctx, zmq::socket_type::pair); // no peer: sends would block
    zmqobs::socket sl = obs.attach (lone, "lone");
    EXPECT (!sl.send (zmq::buffer ("x", 1), zmq::send_flags::dontwait));
    zmq::message_t keep ("kept", 4);
    EXPECT (!sl.send (keep, zmq::send_flags::dontwait));
    EXPECT_U (keep.size (), 4); // not sent, not taken
    std::array<zmq::const_buffer, 2> two = {{zmq::buffer ("p", 1), zmq::buffer ("q", 1)}};
    EXPECT (!zmqobs::send_multipart (sl, two, zmq::send_flags::dontwait));
    EXPECT_U (errors (sl, ZMQOBS_OP_SEND, "EAGAIN"), 3);
    EXPECT_U (sl.stats ().msgs_sent, 0);

    // other errors: zmq::error_t with the errno, counted by name
    zmq::socket_t req (ctx, zmq::socket_type::req);
    zmqobs::socket sr = obs.attach (req, "req");
    EXPECT_ZMQ_ERROR ([&] { (void) sr.recv (got); }, EFSM);
    EXPECT_ZMQ_ERROR ([&] { (void) sr.recv (zmq::buffer (buf)); }, EFSM);
    EXPECT_U (errors (sr, ZMQOBS_OP_RECV, "EFSM"), 2);
    EXPECT_U (errors (sr, ZMQOBS_OP_RECV, "EAGAIN"), 0);
    EXPECT_ZMQ_ERROR ([&] { sr.connect ("nonsense"); }, EINVAL);

    // the format names the socket's series
    std::string prom = obs.format ();
    EXPECT (prom.find ("\nzmq_messages_sent_total{socket=\"a\",type=\"PAIR\"} 3\n")
            != std::string::npos);
    EXPECT (prom.find ("\nzmq_bytes_received_total{socket=\"b\",type=\"PAIR\"} 10\n")
            != std::string::npos);
    EXPECT_S (prom, obs.format (zmqobs::format::prometheus));
    std::string om = obs.format (zmqobs::format::openmetrics);
    EXPECT (om.find ("\nzmq_messages_sent_total{socket=\"a\",type=\"PAIR\"} 3\n")
            != std::string::npos);
    EXPECT (om.size () > 6 && om.compare (om.size () - 6, 6, "# EOF\n") == 0);
    std::string json = obs.format (zmqobs::format::json);
    EXPECT (json.find ("{\"name\":\"a\",\"type\":\"PAIR\"") != std::string::npos);
    EXPECT (json.find ("\"messages_sent\":3,\"bytes_sent\":10,") != std::string::npos);
    std::string text = obs.format (zmqobs::format::text);
    EXPECT (text.find ("socket \"b\" (PAIR)\n") != std::string::npos);
    EXPECT (text.find ("received        3 msgs, 10 bytes,") != std::string::npos);
    EXPECT_S (zmqobs::content_type (zmqobs::format::openmetrics),
              zmqobs_content_type (ZMQOBS_FORMAT_OPENMETRICS));
    EXPECT (zmqobs::format_from_accept ("application/openmetrics-text; version=1.0.0")
            == zmqobs::format::openmetrics);
    EXPECT (zmqobs::format_from_accept (nullptr) == zmqobs::format::prometheus);
    EXPECT_U (static_cast<uint64_t> (obs.socket_count ()), 4);
    pass ("single parts over inproc PAIR, EAGAIN, errors, format");
}

// --- multipart over inproc PAIR -------------------------------------------
void test_pair_multipart ()
{
    zmq::context_t ctx;
    zmqobs::observer obs (ctx, host_driven ());
    zmq::socket_t a (ctx, zmq::socket_type::pair), b (ctx, zmq::socket_type::pair);
    zmqobs::socket sa = obs.attach (a, "a"), sb = obs.attach (b, "b");
    a.bind ("inproc://cpp-multi");
    b.connect ("inproc://cpp-multi");

    std::vector<zmq::message_t> out;
    out.emplace_back ("a", 1);
    out.emplace_back ("bb", 2);
    out.emplace_back ("ccc", 3);
    zmq::send_result_t r = zmqobs::send_multipart (sa, out);
    EXPECT (r && *r == 3);
    std::vector<zmq::message_t> in;
    zmq::recv_result_t rr = zmqobs::recv_multipart (sb, std::back_inserter (in));
    EXPECT (rr && *rr == 3);
    EXPECT_U (in.size (), 3);
    if (in.size () == 3) {
        EXPECT_S (str (in[0]) + str (in[1]) + str (in[2]), "abbccc");
        EXPECT (in[0].more () && in[1].more () && !in[2].more ());
    }

    // buffers, mutable and const; then too many parts for recv_multipart_n
    char x[] = {'x'};
    std::vector<zmq::mutable_buffer> mb = {zmq::buffer (x, 1)};
    EXPECT (zmqobs::send_multipart (sa, mb));
    const std::array<zmq::const_buffer, 2> cb = {{zmq::buffer ("yz", 2), zmq::buffer ("w", 1)}};
    r = zmqobs::send_multipart (sa, cb, zmq::send_flags::dontwait);
    EXPECT (r && *r == 2);
    in.clear ();
    rr = zmqobs::recv_multipart_n (sb, std::back_inserter (in), 1);
    EXPECT (rr && *rr == 1 && in.size () == 1);
    in.clear ();
    EXPECT_ERROR ([&] { (void) zmqobs::recv_multipart_n (sb, std::back_inserter (in), 1); },
                  EMSGSIZE, "zmqobs::recv_multipart_n");
    EXPECT_U (in.size (), 1);
    zmq::message_t rest;
    EXPECT (sb.recv (rest) && str (rest) == "w" && !rest.more ());
    try { // zmqobs::error is a std::runtime_error, as cppzmq's throws
        (void) zmqobs::recv_multipart_n (sb, std::back_inserter (in), 0);
        EXPECT (false);
    } catch (const std::runtime_error &) {
    }

    zmqobs_stats_t st = sa.stats ();
    EXPECT_U (st.msgs_sent, 6);
    EXPECT_U (st.bytes_sent, 10);
    st = sb.stats ();
    EXPECT_U (st.msgs_received, 6);
    EXPECT_U (st.bytes_received, 10);
    EXPECT_U (st.errors[ZMQOBS_OP_RECV][slot ("EAGAIN")], 0);
    pass ("multipart over inproc PAIR");
}

// --- REQ/REP over tcp, every cycle timed ----------------------------------
void test_reqrep_tcp ()
{
    zmq::context_t ctx;
    zmqobs_options_t o = host_driven ();
    o.latency_sample_every = 1;
    zmqobs::observer obs (ctx, o);
    zmq::socket_t rep (ctx, zmq::socket_type::rep), req (ctx, zmq::socket_type::req);
    rep.set (zmq::sockopt::linger, 0);
    req.set (zmq::sockopt::linger, 0);
    zmqobs::socket srep = obs.attach (rep, "rep"), sreq = obs.attach (req, "req");
    rep.bind ("tcp://127.0.0.1:*");
    req.connect (rep.get (zmq::sockopt::last_endpoint));

    const int cycles = 5;
    for (int i = 0; i < cycles; i++) {
        EXPECT (sreq.send (zmq::buffer ("ping", 4)));
        zmq::message_t q;
        EXPECT (srep.recv (q) && str (q) == "ping");
        EXPECT (srep.send (q, zmq::send_flags::none)); // echoed back
        char buf[16];
        zmq::recv_buffer_result_t rb = sreq.recv (zmq::buffer (buf));
        EXPECT (rb && rb->size == 4);
    }
    for (int i = 0; i < 2; i++) {
        std::array<zmq::const_buffer, 2> request = {
            {zmq::buffer ("id", 2), zmq::buffer ("body", 4)}};
        EXPECT (zmqobs::send_multipart (sreq, request));
        std::vector<zmq::message_t> parts;
        EXPECT (zmqobs::recv_multipart (srep, std::back_inserter (parts)));
        zmq::send_result_t r = zmqobs::send_multipart (srep, parts);
        EXPECT (r && *r == 2);
        parts.clear ();
        EXPECT (zmqobs::recv_multipart (sreq, std::back_inserter (parts)));
        EXPECT_U (parts.size (), 2);
    }
    // 5 single-part cycles of 4 bytes and 2 of two parts (6 bytes), each way
    for (const zmqobs::socket *s : {&sreq, &srep}) {
        zmqobs_stats_t st = s->stats ();
        EXPECT_U (st.msgs_sent, 9);
        EXPECT_U (st.bytes_sent, 32);
        EXPECT_U (st.msgs_received, 9);
        EXPECT_U (st.bytes_received, 32);
        EXPECT_U (st.latency_count, 7);
        EXPECT_U (st.window.count, 7);
    }
    // and a REQ sending twice: EFSM, thrown and counted
    EXPECT (sreq.send (zmq::buffer ("again", 5)));
    EXPECT_ZMQ_ERROR ([&] { sreq.send (zmq::buffer ("twice", 5)); }, EFSM);
    EXPECT_U (errors (sreq, ZMQOBS_OP_SEND, "EFSM"), 1);
    EXPECT_U (sreq.stats ().msgs_sent, 10);
    pass ("REQ/REP over tcp, latency");
}

// --- the library's errors: zmqobs::error with errno -----------------------
void test_errors ()
{
    zmq::context_t ctx;
    zmqobs::observer obs (ctx); // own thread
    zmq::socket_t a (ctx, zmq::socket_type::pair), b (ctx, zmq::socket_type::pair);
    zmqobs::socket sa = obs.attach (a, "a");
    EXPECT_ERROR ([&] { (void) obs.attach (a, "again"); }, EEXIST, "zmqobs_attach");
    EXPECT_ERROR ([&] { (void) obs.attach (b, "a"); }, EEXIST, "zmqobs_attach");
    EXPECT_ERROR ([&] { (void) obs.attach (b, ""); }, EINVAL, "zmqobs_attach");
    EXPECT_ERROR ([&] { (void) obs.attach (zmq::socket_ref (), "null"); }, ENOTSOCK,
                  "zmqobs_attach");
    try { // a std::system_error in the generic category
        (void) obs.attach (a, "again");
        EXPECT (false);
    } catch (const std::system_error &e) {
        EXPECT (e.code () == std::errc::file_exists);
    }
    EXPECT_ERROR ([&] { obs.fd (); }, ENOTSUP, "zmqobs_fd");
    EXPECT_ERROR ([&] { obs.process (0); }, ENOTSUP, "zmqobs_process");
    EXPECT_ERROR ([&] { obs.serve ("udp://1.2.3.4:5"); }, EINVAL, "zmqobs_serve");
    EXPECT_ERROR ([&] { obs.serve_port (); }, ENOTCONN, "zmqobs_serve_port");
    EXPECT_ERROR ([&] { obs.serve_stop (); }, ENOTCONN, "zmqobs_serve_stop");

    zmqobs_options_t bad = zmqobs::default_options ();
    bad.ring_capacity = 3;
    EXPECT_ERROR ([&] { zmqobs::observer o (ctx, bad); }, EINVAL, "zmqobs_new");

    zmqobs::socket empty;
    EXPECT (!empty);
    EXPECT_S (empty.name (), "");
    EXPECT (empty.ref () == nullptr);
    EXPECT_ERROR ([&] { empty.stats (); }, EINVAL, "zmqobs_socket_stats");
    EXPECT_ZMQ_ERROR ([&] { empty.send (zmq::buffer ("x", 1)); }, ENOTSOCK);
    zmq::message_t m;
    EXPECT_ZMQ_ERROR ([&] { (void) empty.recv (m); }, ENOTSOCK);
    empty.record_latency (5); // ignored
    empty.record_sent (5);
    pass ("zmqobs::error and zmq::error_t");
}

// --- serve(): a raw TCP client reads /metrics ------------------------------
std::string http_get (int port, const char *request)
{
    int fd = ::socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return "socket failed";
    timeval tv = {};
    tv.tv_sec = 30; // a watchdog, not a measurement
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_port = htons (static_cast<uint16_t> (port));
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    std::string resp;
    if (connect (fd, reinterpret_cast<const sockaddr *> (&addr), sizeof addr) != 0) {
        close (fd);
        return "connect failed";
    }
    size_t len = std::strlen (request);
    if (send (fd, request, len, MSG_NOSIGNAL) != static_cast<ssize_t> (len)) {
        close (fd);
        return "send failed";
    }
    char buf[4096];
    ssize_t n;
    while ((n = recv (fd, buf, sizeof buf, 0)) > 0)
        resp.append (buf, static_cast<size_t> (n));
    close (fd);
    return resp;
}

void test_serve ()
{
    zmq::context_t ctx;
    zmqobs_options_t o = zmqobs::default_options ();
    o.no_process_metrics = 1;
    zmqobs::observer obs (ctx, o);
    zmq::socket_t a (ctx, zmq::socket_type::pair), b (ctx, zmq::socket_type::pair);
    zmqobs::socket sa = obs.attach (a, "served");
    a.bind ("inproc://cpp-serve");
    b.connect ("inproc://cpp-serve");
    EXPECT (sa.send (zmq::buffer ("1234567", 7)));
    int before = failures;

    int port = obs.serve ("tcp://127.0.0.1:0");
    EXPECT (port > 0 && port < 65536);
    EXPECT_U (static_cast<uint64_t> (obs.serve_port ()), static_cast<uint64_t> (port));
    EXPECT_ERROR ([&] { obs.serve ("tcp://127.0.0.1:0"); }, EALREADY, "zmqobs_serve");
    std::string resp =
        http_get (port, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    EXPECT (resp.compare (0, 15, "HTTP/1.1 200 OK") == 0);
    EXPECT (resp.find ("\nzmq_messages_sent_total{socket=\"served\",type=\"PAIR\"} 1\n")
            != std::string::npos);
    EXPECT (resp.find ("\nzmq_bytes_sent_total{socket=\"served\",type=\"PAIR\"} 7\n")
            != std::string::npos);
    if (failures > before)
        std::fprintf (stderr, "response:\n%s\n", resp.c_str ());
    obs.serve_stop ();
    EXPECT_ERROR ([&] { obs.serve_port (); }, ENOTCONN, "zmqobs_serve_port");
    pass ("serve() and /metrics");
}

// --- on_event --------------------------------------------------------------
void test_on_event_host_driven ()
{
    int listening = 0, calls = 0; // outlive the observer and its callbacks
    zmq::context_t ctx;
    std::unique_ptr<zmqobs::observer> obs (new zmqobs::observer (ctx, host_driven ()));
    obs->on_event ([&] (const zmqobs_event_info_t &info) {
        if (info.event->event == ZMQ_EVENT_LISTENING) {
            listening++;
            EXPECT_S (info.socket_name, "rep");
            EXPECT_S (info.event_name, "LISTENING");
        }
    });
    zmq::socket_t rep (ctx, zmq::socket_type::rep);
    zmqobs::socket s = obs->attach (rep, "rep");
    // process (monitor events of this thread's own bind) until one comes
    auto drain_until = [&] (int &counter, int want) {
        for (int i = 0; i < 300 && counter < want; i++) // 30 s watchdog
            obs->process (100);
    };
    rep.bind ("tcp://127.0.0.1:*");
    drain_until (listening, 1);
    EXPECT_U (static_cast<uint64_t> (listening), 1);
    EXPECT_U (events (s, ZMQ_EVENT_LISTENING), 1);

    // a callback that throws: dropped, the next events still come
    obs->on_event ([&] (const zmqobs_event_info_t &info) {
        calls++;
        throw std::runtime_error (info.event_name);
    });
    rep.bind ("tcp://127.0.0.1:*");
    drain_until (calls, 1);
    EXPECT_U (static_cast<uint64_t> (calls), 1);
    // the observer moved: the callback lives on with it
    zmqobs::observer moved (std::move (*obs));
    EXPECT (obs->handle () == nullptr);
    EXPECT_ERROR ([&] { obs->format (); }, EINVAL, "zmqobs_format");
    EXPECT_ERROR ([&] { obs->on_event (nullptr); }, EINVAL, "zmqobs_on_event");
    obs.reset ();
    rep.bind ("tcp://127.0.0.1:*");
    for (int i = 0; i < 300 && calls < 2; i++)
        moved.process (100);
    EXPECT_U (static_cast<uint64_t> (calls), 2);
    EXPECT_U (static_cast<uint64_t> (listening), 1);
    // removed: no more calls, events still counted
    moved.on_event (nullptr);
    rep.bind ("tcp://127.0.0.1:*");
    for (int i = 0; i < 300 && events (s, ZMQ_EVENT_LISTENING) < 4; i++)
        moved.process (100);
    EXPECT_U (events (s, ZMQ_EVENT_LISTENING), 4);
    EXPECT_U (static_cast<uint64_t> (calls), 2);
    pass ("on_event (host-driven): LISTENING, a throwing callback, moved, removed");
}

void test_on_event_thread ()
{
    // declared before the observer, so they outlive its callback
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::string> seen;
    zmq::context_t ctx;
    zmqobs::observer obs (ctx);
    obs.on_event ([&] (const zmqobs_event_info_t &info) {
        std::lock_guard<std::mutex> lock (mu);
        seen.emplace_back (std::string (info.event_name) + " " + info.event->endpoint);
        cv.notify_all ();
    });
    zmq::socket_t pull (ctx, zmq::socket_type::pull);
    zmqobs::socket s = obs.attach (pull, "pull");
    pull.bind ("tcp://127.0.0.1:*");
    std::string want = "LISTENING " + pull.get (zmq::sockopt::last_endpoint);
    std::unique_lock<std::mutex> lock (mu);
    cv.wait_for (lock, std::chrono::seconds (30), [&] { return !seen.empty (); }); // watchdog
    EXPECT_U (seen.size (), 1);
    if (!seen.empty ())
        EXPECT_S (seen[0], want);
    lock.unlock ();
    obs.on_event (nullptr);
    pass ("on_event (own thread): LISTENING");
}

// --- move semantics --------------------------------------------------------
void test_moves ()
{
    zmq::context_t ctx;
    zmqobs::observer obs (ctx, host_driven ());
    zmq::socket_t a (ctx, zmq::socket_type::pair), b (ctx, zmq::socket_type::pair);
    auto count = [&] { return static_cast<uint64_t> (obs.socket_count ()); };
    {
        zmqobs::socket s1 = obs.attach (a, "a");
        zmqobs::socket s2 (std::move (s1));
        EXPECT (!s1 && s2);
        EXPECT_S (s2.name (), "a");
        s1.detach (); // empty: nothing
        EXPECT_U (count (), 1);
        {
            zmqobs::socket s3 (std::move (s2));
        } // s3 detaches
        EXPECT_U (count (), 0);
    } // s1 and s2, moved from: nothing
    EXPECT_U (count (), 0);

    zmqobs::socket sa = obs.attach (a, "a"), sb = obs.attach (b, "b");
    EXPECT_U (count (), 2);
    sa = std::move (sb); // sa's "a" is detached first
    EXPECT_U (count (), 1);
    EXPECT_S (sa.name (), "b");
    EXPECT (!sb);
    zmqobs::socket again = obs.attach (a, "a"); // so a can be attached again
    EXPECT_U (count (), 2);
    zmqobs::socket &same = sa;
    sa = std::move (same); // self-move keeps it
    EXPECT_S (sa.name (), "b");
    again.detach ();
    EXPECT (!again);
    EXPECT_U (count (), 1);
    pass ("move semantics");
}

void test_socket_outlives_observer ()
{
    zmq::context_t ctx;
    zmq::socket_t a (ctx, zmq::socket_type::pair);
    zmqobs::socket s;
    {
        zmqobs::observer obs (ctx);
        s = obs.attach (a, "a");
        zmqobs::observer other (std::move (obs));
        EXPECT_U (static_cast<uint64_t> (other.socket_count ()), 1);
    } // the observer goes first: it detaches s; s's destructor does nothing
    pass ("a socket outliving its observer");
}

bool contains (const std::string &text, const std::string &line)
{
    return text.find ("\n" + line + "\n") != std::string::npos;
}

void test_app_metrics ()
{
    zmq::context_t ctx;
    zmqobs::counter late;
    {
        zmqobs::observer obs (ctx);
        zmqobs::counter jobs = obs.counter ("jobs", "Jobs done.", {{"queue", "fast"}});
        zmqobs::gauge depth = obs.gauge ("depth", "Items waiting.");
        zmqobs::histogram sizes = obs.histogram ("sizes", "Sizes.", {}, {1.0, 10.0});
        jobs.add ();
        jobs.add (41);
        depth.set (2.5);
        depth.add (-1.0);
        sizes.observe (0.5);
        sizes.observe (5.0);
        sizes.observe (50.0);
        std::string out = obs.format (zmqobs::format::prometheus);
        EXPECT (contains (out, "jobs_total{queue=\"fast\"} 42"));
        EXPECT (contains (out, "depth 1.5"));
        EXPECT (contains (out, "sizes_bucket{le=\"1\"} 1"));
        EXPECT (contains (out, "sizes_bucket{le=\"10\"} 2"));
        EXPECT (contains (out, "sizes_bucket{le=\"+Inf\"} 3"));
        EXPECT (contains (out, "sizes_count 3"));
        // the same name and labels again: zmqobs::error EEXIST
        int err = 0;
        try {
            zmqobs::counter again = obs.counter ("jobs", "Jobs done.", {{"queue", "fast"}});
        } catch (const zmqobs::error &e) {
            err = e.code ().value ();
        }
        EXPECT_U (static_cast<uint64_t> (err), EEXIST);
        // destroyed: gone from the output; empty, and its updates throw
        jobs.destroy ();
        EXPECT (!jobs);
        EXPECT (obs.format ().find ("jobs_total") == std::string::npos);
        err = 0;
        try {
            jobs.add ();
        } catch (const zmqobs::error &e) {
            err = e.code ().value ();
        }
        EXPECT_U (static_cast<uint64_t> (err), EINVAL);
        late = obs.counter ("late", "Outlives its observer.");
    } // the observer releases late's metric; late's destructor does nothing
    EXPECT (static_cast<bool> (late));
    pass ("application metrics");
}
// Per-peer metrics through zmqobs::socket: ROUTER with three DEALERs
// named by routing id, exact counts; the HWM gauges through set ().
void test_peers ()
{
    zmq::context_t ctx;
    zmqobs::observer obs (ctx, host_driven ());
    zmq::socket_t router (ctx, zmq::socket_type::router);
    router.bind ("inproc://cpp-peers");
    zmqobs::socket sr = obs.attach (router, "router");
    EXPECT_ERROR ([&] { (void) sr.peers (); }, ENOENT, "zmqobs_socket_peers");
    EXPECT_ERROR ([&] { sr.track_peers (4, 99); }, EINVAL, "zmqobs_track_peers");
    sr.track_peers (2, ZMQOBS_PEER_ROUTING_ID);
    std::vector<zmq::socket_t> dealers;
    const char *ids[3] = {"a", "bb", "ccc"};
    for (int i = 0; i < 3; i++) {
        dealers.emplace_back (ctx, zmq::socket_type::dealer);
        dealers.back ().set (zmq::sockopt::routing_id, ids[i]);
        dealers.back ().connect ("inproc://cpp-peers");
        for (int k = 0; k <= i * 2; k++) // a: 1 message, bb: 3, ccc: 5
            dealers.back ().send (zmq::buffer ("xyz", 3));
    }
    for (int m = 0; m < 9; m++) {
        std::vector<zmq::message_t> parts;
        EXPECT (zmqobs::recv_multipart (sr, std::back_inserter (parts)));
        EXPECT_U (parts.size (), 2);
    }
    std::vector<zmqobs_peer_stats_t> p = sr.peers ();
    EXPECT_U (p.size (), 3); // two tracked, then "other"
    EXPECT_S (std::string (p.back ().peer), "other");
    uint64_t total = 0;
    for (const zmqobs_peer_stats_t &x : p)
        total += x.msgs_received;
    EXPECT_U (total, 18);
    sr.set (ZMQ_SNDHWM, 77);
    EXPECT_U (static_cast<uint64_t> (sr.stats ().sndhwm), 77);
    EXPECT_ZMQ_ERROR ([&] { sr.set (-1, 1); }, EINVAL);
    pass ("per-peer metrics and options");
}
} // namespace

int main ()
{
    test_pair_single ();
    test_pair_multipart ();
    test_reqrep_tcp ();
    test_errors ();
    test_serve ();
    test_on_event_host_driven ();
    test_on_event_thread ();
    test_moves ();
    test_socket_outlives_observer ();
    test_app_metrics ();
    test_peers ();
    if (failures) {
        std::printf ("test_cpp: %d checks FAILED\n", failures);
        return 1;
    }
    std::printf ("test_cpp: all passed\n");
    return 0;
}
