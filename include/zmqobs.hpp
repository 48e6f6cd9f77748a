/*
 * zmqobs.hpp - the C++ API of libzmqobs, header-only, C++11, over cppzmq
 * (zmq.hpp, 4.7 or later).
 *
 *     zmq::context_t ctx;
 *     zmq::socket_t rep (ctx, zmq::socket_type::rep);
 *     zmqobs::observer obs (ctx);                    // own thread, defaults
 *     zmqobs::socket s = obs.attach (rep, "frontend"); // before bind
 *     rep.bind ("tcp://127.0.0.1:5555");
 *     int port = obs.serve ("tcp://127.0.0.1:0");    // /metrics on a free port
 *     zmq::message_t req;
 *     if (s.recv (req))                              // counted, timed (REQ/REP)
 *         s.send (zmq::str_buffer ("ok"));
 *     std::string text = obs.format (zmqobs::format::prometheus);
 *
 * The C contract in zmqobs.h applies unchanged: threading (a socket and its
 * zmqobs::socket belong to one thread at a time), ownership and errno
 * values. The classes here add RAII and cppzmq's types on top of it.
 *
 * Errors:
 *   - the library's own calls (observer construction, attach, format, serve,
 *     stats, ...) throw zmqobs::error, a std::system_error whose code() is
 *     the C function's errno in std::generic_category() (so code() compares
 *     equal to std::errc values), and whose what() names that function;
 *   - socket I/O (send, recv, the multipart helpers, connect, disconnect,
 *     unbind) behaves exactly as cppzmq's socket does, so that a
 *     zmqobs::socket can replace a zmq::socket_t in existing code: EAGAIN
 *     gives an empty result (counted as would-block), any other failure
 *     throws zmq::error_t with the errno (counted by errno name).
 *
 * cppzmq's zmq.hpp is included as installed: in /usr/include or
 * /usr/local/include it is a system header, so its own warnings (4.9 has
 * some under the flags below) never reach a -Werror build. Installed
 * elsewhere, add its directory with -isystem rather than -I for the same
 * effect. This header itself is clean under g++ -Wall -Wextra -Wpedantic
 * -Wold-style-cast -Wuseless-cast -Wzero-as-null-pointer-constant and
 * clang++ -Weverything -Wno-c++98-compat -Wno-padded.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef ZMQOBS_HPP
#define ZMQOBS_HPP

#include <zmq.hpp>
#include <zmqobs.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#if !defined(ZMQ_CPP11) || !defined(CPPZMQ_VERSION)
#error "zmqobs.hpp needs C++11 and cppzmq 4.7 or later"
#elif CPPZMQ_VERSION < ZMQ_MAKE_VERSION(4, 7, 0)
#error "zmqobs.hpp needs cppzmq 4.7 or later (socket_ref, send/recv flags and results)"
#endif

// The event callback's C entry point: private (zmqobs_i_ prefix), inline
// with C language linkage so that its type is exactly zmqobs_event_fn.
// arg is the observer's std::function. An exception must not unwind
// through the library's C frames (its locks would stay held): whatever the
// function throws is caught here and dropped.
extern "C" inline void zmqobs_i_cxx_on_event (const zmqobs_event_info_t *info, void *arg)
{
    try {
        (*static_cast<std::function<void (const zmqobs_event_info_t &)> *> (arg)) (*info);
    } catch (...) {
        // dropped: see above and observer::on_event
    }
}

namespace zmqobs
{

// ------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------

#if defined(__clang__)
// A header-only class cannot have an out-of-line virtual function to
// anchor its vtable: every program that uses it emits its own copy.
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wweak-vtables"
#endif
// Thrown by the library's own calls: code() is the errno the C function
// set, in std::generic_category(); what() starts with the function's name.
class error : public std::system_error
{
  public:
    error (int err, const char *function)
        : std::system_error (err, std::generic_category (), function)
    {
    }
    // the errno value, as zmq::error_t::num () gives it
    int num () const noexcept
    {
        return code ().value ();
    }
};
#if defined(__clang__)
#pragma clang diagnostic pop
#endif

namespace detail
{
// Throws zmqobs::error with the current errno.
[[noreturn]] inline void throw_errno (const char *function)
{
    throw error (errno, function);
}

// Throws zmq::error_t with the current errno, as cppzmq's socket does.
[[noreturn]] inline void throw_zmq_errno ()
{
    throw zmq::error_t (errno);
}

using event_fn = std::function<void (const zmqobs_event_info_t &)>;

// What an observer owns, on the heap so that moving an observer moves one
// pointer: the C observer and the event callback whose address the C side
// keeps. zmqobs::socket holds a weak reference, so the destructor of a
// socket that outlives its observer does nothing.
struct observer_state {
    zmqobs_t *obs = nullptr;
    std::unique_ptr<event_fn> callback;

    observer_state () = default;
    observer_state (const observer_state &) = delete;
    observer_state &operator= (const observer_state &) = delete;
    // zmqobs_destroy first: once it returns the callback is never called
    // again, and only then is it destroyed (members go after this body)
    ~observer_state ()
    {
        zmqobs_destroy (&obs);
    }
};

// A message part send_multipart accepts: zmq::message_t or a buffer.
template <class T> struct is_part : std::false_type {
};
template <> struct is_part<zmq::message_t> : std::true_type {
};
template <> struct is_part<zmq::const_buffer> : std::true_type {
};
template <> struct is_part<zmq::mutable_buffer> : std::true_type {
};
template <class Range>
using range_value_t = typename std::decay<decltype (*std::begin (std::declval<Range &> ()))>::type;
} // namespace detail

// ------------------------------------------------------------------------
// Formats and options
// ------------------------------------------------------------------------

// The exposition formats of zmqobs_format.
enum class format {
    prometheus = ZMQOBS_FORMAT_PROMETHEUS,   // text 0.0.4
    openmetrics = ZMQOBS_FORMAT_OPENMETRICS, // OpenMetrics 1.0.0
    json = ZMQOBS_FORMAT_JSON,               // one JSON object
    text = ZMQOBS_FORMAT_TEXT,               // a human report
    protobuf = ZMQOBS_FORMAT_PROTOBUF        // Prometheus delimited protobuf (binary)
};

// The HTTP Content-Type of a format (never null).
inline const char *content_type (zmqobs::format f) noexcept
{
    return zmqobs_content_type (static_cast<zmqobs_format_t> (f));
}

// The format an HTTP Accept header asks for (see zmqobs_format_from_accept).
inline zmqobs::format format_from_accept (const char *accept) noexcept
{
    return static_cast<zmqobs::format> (zmqobs_format_from_accept (accept));
}

// The default options spelled out (zmqobs_options_init), to change a few:
//     zmqobs_options_t o = zmqobs::default_options ();
//     o.latency_sample_every = 1;
//     zmqobs::observer obs (ctx, o);
inline zmqobs_options_t default_options () noexcept
{
    zmqobs_options_t opts;
    zmqobs_options_init (&opts);
    return opts;
}

// ------------------------------------------------------------------------
// Application metrics
// ------------------------------------------------------------------------

// Labels of an application metric: name and value pairs.
using labels = std::vector<std::pair<std::string, std::string>>;

// An application metric (zmqobs_metric_t): zmqobs::counter, zmqobs::gauge
// or zmqobs::histogram, from observer::counter, observer::gauge and
// observer::histogram. Move-only; its destructor
// destroys the metric (zmqobs_metric_destroy), unless its observer is gone
// already (zmqobs_destroy released it then). Updates are lock-free and may
// run on any thread; a default-constructed or moved-from metric is empty
// and its updates throw zmqobs::error EINVAL.
class metric
{
  public:
    metric () noexcept = default;
    metric (metric &&other) noexcept : m_ (other.m_), owner_ (std::move (other.owner_))
    {
        other.m_ = nullptr;
    }
    metric &operator= (metric &&other) noexcept
    {
        if (this != &other) {
            destroy ();
            m_ = other.m_;
            owner_ = std::move (other.owner_);
            other.m_ = nullptr;
        }
        return *this;
    }
    metric (const metric &) = delete;
    metric &operator= (const metric &) = delete;
    ~metric ()
    {
        destroy ();
    }

    // zmqobs_metric_destroy, now; the metric is empty afterwards.
    void destroy () noexcept
    {
        if (m_ != nullptr && !owner_.expired ())
            zmqobs_metric_destroy (&m_);
        m_ = nullptr;
        owner_.reset ();
    }
    explicit operator bool () const noexcept
    {
        return m_ != nullptr;
    }
    // the C handle, for the C API (nullptr when empty)
    zmqobs_metric_t *handle () const noexcept
    {
        return m_;
    }

  protected:
    metric (zmqobs_metric_t *m, const std::shared_ptr<detail::observer_state> &owner) noexcept
        : m_ (m), owner_ (owner)
    {
    }
    zmqobs_metric_t *m_ = nullptr;

  private:
    std::weak_ptr<detail::observer_state> owner_;
};

// A counter: add (zmqobs_counter_add). zmqobs::error EINVAL when empty.
class counter : public metric
{
  public:
    counter () noexcept = default;
    void add (uint64_t n = 1)
    {
        if (zmqobs_counter_add (m_, n) != 0)
            detail::throw_errno ("zmqobs_counter_add");
    }

  private:
    friend class observer;
    counter (zmqobs_metric_t *m, const std::shared_ptr<detail::observer_state> &owner) noexcept
        : metric (m, owner)
    {
    }
};

// A gauge: set and add (zmqobs_gauge_set, zmqobs_gauge_add).
class gauge : public metric
{
  public:
    gauge () noexcept = default;
    void set (double v)
    {
        if (zmqobs_gauge_set (m_, v) != 0)
            detail::throw_errno ("zmqobs_gauge_set");
    }
    void add (double d)
    {
        if (zmqobs_gauge_add (m_, d) != 0)
            detail::throw_errno ("zmqobs_gauge_add");
    }

  private:
    friend class observer;
    gauge (zmqobs_metric_t *m, const std::shared_ptr<detail::observer_state> &owner) noexcept
        : metric (m, owner)
    {
    }
};

// A histogram: observe (zmqobs_histogram_observe; EINVAL for NaN).
class histogram : public metric
{
  public:
    histogram () noexcept = default;
    void observe (double v)
    {
        if (zmqobs_histogram_observe (m_, v) != 0)
            detail::throw_errno ("zmqobs_histogram_observe");
    }

  private:
    friend class observer;
    histogram (zmqobs_metric_t *m, const std::shared_ptr<detail::observer_state> &owner) noexcept
        : metric (m, owner)
    {
    }
};

class observer;

// ------------------------------------------------------------------------
// An attached socket
// ------------------------------------------------------------------------

// The handle of one attached socket (zmqobs_socket_t), returned by
// observer::attach. Move-only; its destructor (or detach) detaches the
// socket, so destroy it before closing the zmq socket: declare it after
// the zmq::socket_t. A default-constructed or moved-from socket is empty:
// its destructor does nothing, and its I/O throws zmq::error_t ENOTSOCK.
// Owner thread, like the zmq socket itself.
//
// Once its observer has been destroyed, a socket is detached already: its
// destructor then does nothing, but any other use is a use-after-free, as
// in C (destroy the sockets first: declare the observer before them).
class socket
{
  public:
    socket () noexcept = default;
    socket (socket &&other) noexcept : s_ (other.s_), owner_ (std::move (other.owner_))
    {
        other.s_ = nullptr;
    }
    socket &operator= (socket &&other) noexcept
    {
        if (this != &other) {
            detach ();
            s_ = other.s_;
            owner_ = std::move (other.owner_);
            other.s_ = nullptr;
        }
        return *this;
    }
    socket (const socket &) = delete;
    socket &operator= (const socket &) = delete;
    ~socket ()
    {
        detach ();
    }

    // zmqobs_detach, now; the socket is empty afterwards. Does nothing if
    // it is empty or its observer is gone.
    void detach () noexcept
    {
        if (s_ != nullptr && !owner_.expired ())
            zmqobs_detach (&s_);
        s_ = nullptr;
        owner_.reset ();
    }

    // true unless empty
    explicit operator bool () const noexcept
    {
        return s_ != nullptr;
    }
    // the C handle, for the C API (nullptr when empty)
    zmqobs_socket_t *handle () const noexcept
    {
        return s_;
    }
    // the zmq socket given at attach (a null socket_ref when empty)
    zmq::socket_ref ref () const noexcept
    {
        return zmq::socket_ref (zmq::from_handle, zmqobs_socket_handle (s_));
    }
    // the name given at attach ("" when empty)
    const char *name () const noexcept
    {
        return zmqobs_socket_name (s_);
    }

    // --- I/O: cppzmq's socket_t::send and recv, counted ------------------
    // Same arguments, results and exceptions as cppzmq: the number of bytes,
    // an empty result on EAGAIN, zmq::error_t on any other error. Counted
    // through zmqobs_msg_send, zmqobs_send, zmqobs_msg_recv and zmqobs_recv,
    // so messages, bytes, errors by errno, would-blocks and REQ/REP
    // latency are exactly what the C wrappers record.

    // Sends msg (which libzmq empties on success).
    zmq::send_result_t send (zmq::message_t &msg, zmq::send_flags flags)
    {
        int n = zmqobs_msg_send (msg.handle (), s_, static_cast<int> (flags));
        if (n >= 0)
            return static_cast<size_t> (n);
        if (errno == EAGAIN)
            return {};
        detail::throw_zmq_errno ();
    }
    zmq::send_result_t send (zmq::message_t &&msg, zmq::send_flags flags)
    {
        return send (msg, flags);
    }
    // Sends a copy of buf's bytes.
    zmq::send_result_t send (zmq::const_buffer buf, zmq::send_flags flags = zmq::send_flags::none)
    {
        int n = zmqobs_send (s_, buf.data (), buf.size (), static_cast<int> (flags));
        if (n >= 0)
            return static_cast<size_t> (n);
        if (errno == EAGAIN)
            return {};
        detail::throw_zmq_errno ();
    }

    // Receives one part into msg; the result is its size.
    ZMQ_NODISCARD zmq::recv_result_t recv (zmq::message_t &msg,
                                           zmq::recv_flags flags = zmq::recv_flags::none)
    {
        int n = zmqobs_msg_recv (msg.handle (), s_, static_cast<int> (flags));
        if (n >= 0)
            return static_cast<size_t> (n);
        if (errno == EAGAIN)
            return {};
        detail::throw_zmq_errno ();
    }
    // Receives one part into buf: size is what was written (at most
    // buf.size ()), untruncated_size the part's size (the bytes counted).
    ZMQ_NODISCARD zmq::recv_buffer_result_t recv (zmq::mutable_buffer buf,
                                                  zmq::recv_flags flags = zmq::recv_flags::none)
    {
        int n = zmqobs_recv (s_, buf.data (), buf.size (), static_cast<int> (flags));
        if (n >= 0) {
            size_t whole = static_cast<size_t> (n);
            return zmq::recv_buffer_size {(std::min) (whole, buf.size ()), whole};
        }
        if (errno == EAGAIN)
            return {};
        detail::throw_zmq_errno ();
    }

    // zmqobs_connect, zmqobs_disconnect and zmqobs_unbind (they keep the
    // connection gauge right where plain zmq_disconnect and zmq_unbind
    // cannot, see zmqobs.h); zmq::error_t on failure, as cppzmq's.
    void connect (const std::string &endpoint)
    {
        if (zmqobs_connect (s_, endpoint.c_str ()) != 0)
            detail::throw_zmq_errno ();
    }
    void disconnect (const std::string &endpoint)
    {
        if (zmqobs_disconnect (s_, endpoint.c_str ()) != 0)
            detail::throw_zmq_errno ();
    }
    void unbind (const std::string &endpoint)
    {
        if (zmqobs_unbind (s_, endpoint.c_str ()) != 0)
            detail::throw_zmq_errno ();
    }

    // --- records, for I/O done without the wrappers ----------------------
    void record_sent (size_t len, zmq::send_flags flags = zmq::send_flags::none) noexcept
    {
        zmqobs_record_sent (s_, len, static_cast<int> (flags));
    }
    void record_received (size_t len, bool more = false) noexcept
    {
        zmqobs_record_received (s_, len, more ? 1 : 0);
    }
    // a latency sample in nanoseconds (any thread with latency_shared)
    void record_latency (uint64_t ns) noexcept
    {
        zmqobs_record_latency (s_, ns);
    }
    // the zmq_queue_depth gauge (any thread)
    void set_queue_depth (int64_t depth) noexcept
    {
        zmqobs_set_queue_depth (s_, depth);
    }
    void add_queue_depth (int64_t delta) noexcept
    {
        zmqobs_add_queue_depth (s_, delta);
    }

    // --- per-peer metrics and options (owner thread) ---------------------
    // zmqobs_track_peers: key is ZMQOBS_PEER_ADDRESS or
    // ZMQOBS_PEER_ROUTING_ID; max_peers 0 turns tracking off. Throws
    // zmqobs::error (EINVAL, ENOMEM).
    void track_peers (unsigned max_peers, int key)
    {
        if (zmqobs_track_peers (s_, max_peers, key) != 0)
            detail::throw_errno ("zmqobs_track_peers");
    }
    // The tracked peers (zmqobs_socket_peers), "other" last. Any thread.
    // Throws zmqobs::error (ENOENT when tracking is off).
    std::vector<zmqobs_peer_stats_t> peers () const
    {
        std::vector<zmqobs_peer_stats_t> out (64);
        for (;;) {
            zmqobs_peer_stats_t other;
            int n = zmqobs_socket_peers (s_, out.data (), out.size (), &other);
            if (n < 0)
                detail::throw_errno ("zmqobs_socket_peers");
            if (static_cast<size_t> (n) <= out.size ()) {
                out.resize (static_cast<size_t> (n));
                out.push_back (other);
                return out;
            }
            out.resize (static_cast<size_t> (n));
        }
    }
    // zmq_setsockopt through the library (zmqobs_setsockopt): the
    // zmq_sndhwm and zmq_rcvhwm gauges follow ZMQ_SNDHWM and ZMQ_RCVHWM.
    // zmq::error_t on failure, as cppzmq's.
    void set (int option, int value)
    {
        if (zmqobs_setsockopt (s_, option, &value, sizeof value) != 0)
            detail::throw_zmq_errno ();
    }

    // A snapshot of the socket's metrics (zmqobs_socket_stats). Any
    // thread while attached. Throws zmqobs::error EINVAL when empty.
    zmqobs_stats_t stats () const
    {
        zmqobs_stats_t st;
        if (zmqobs_socket_stats (s_, &st) != 0)
            detail::throw_errno ("zmqobs_socket_stats");
        return st;
    }

  private:
    friend class observer;
    socket (zmqobs_socket_t *s, std::weak_ptr<detail::observer_state> owner) noexcept
        : s_ (s), owner_ (std::move (owner))
    {
    }

    zmqobs_socket_t *s_ = nullptr;
    std::weak_ptr<detail::observer_state> owner_;
};

// ------------------------------------------------------------------------
// Multipart messages: cppzmq's zmq::send_multipart and zmq::recv_multipart
// (zmq_addon.hpp), over a zmqobs::socket, every part counted.
// ------------------------------------------------------------------------

// Sends every element of parts (zmq::message_t, zmq::const_buffer or
// zmq::mutable_buffer) as one message, ZMQ_SNDMORE on all but the last.
// Returns the number of parts, or an empty result on EAGAIN (libzmq then
// sent nothing); throws zmq::error_t on other errors. Message parts are
// emptied as sent.
template <class Range, class = typename std::enable_if<
                           detail::is_part<detail::range_value_t<Range>>::value>::type>
zmq::send_result_t send_multipart (socket &s, Range &&parts,
                                   zmq::send_flags flags = zmq::send_flags::none)
{
    using std::begin;
    using std::end;
    auto it = begin (parts);
    const auto last = end (parts);
    size_t sent = 0;
    while (it != last) {
        auto next = std::next (it);
        zmq::send_flags part_flags = next == last ? flags : flags | zmq::send_flags::sndmore;
        if (!s.send (*it, part_flags))
            return {}; // only the first part can meet EAGAIN: libzmq queues whole messages
        sent++;
        it = next;
    }
    return sent;
}

// Receives one whole message, writing each part as a zmq::message_t to
// out (e.g. std::back_inserter (vec)). Returns the number of parts, or an
// empty result on EAGAIN (nothing received); throws zmq::error_t on other
// errors.
template <class OutputIt>
ZMQ_NODISCARD zmq::recv_result_t recv_multipart (socket &s, OutputIt out,
                                                 zmq::recv_flags flags = zmq::recv_flags::none)
{
    size_t received = 0;
    for (;;) {
        zmq::message_t part;
        if (!s.recv (part, flags))
            return {}; // only the first part can meet EAGAIN: libzmq delivers whole messages
        received++;
        bool more = part.more ();
        *out++ = std::move (part);
        if (!more)
            return received;
    }
}

// The same, with at most n parts: a message with more throws zmqobs::error
// EMSGSIZE (a std::runtime_error, as cppzmq's recv_multipart_n throws)
// after writing n parts; the rest of the message is still pending.
template <class OutputIt>
ZMQ_NODISCARD zmq::recv_result_t recv_multipart_n (socket &s, OutputIt out, size_t n,
                                                   zmq::recv_flags flags = zmq::recv_flags::none)
{
    size_t received = 0;
    for (;;) {
        if (received >= n)
            throw error (EMSGSIZE, "zmqobs::recv_multipart_n: more than n parts");
        zmq::message_t part;
        if (!s.recv (part, flags))
            return {};
        received++;
        bool more = part.more ();
        *out++ = std::move (part);
        if (!more)
            return received;
    }
}

// ------------------------------------------------------------------------
// The observer
// ------------------------------------------------------------------------

// An observer (zmqobs_t) for the sockets of one context. Move-only; its
// destructor destroys it (zmqobs_destroy: detaches every socket still
// attached, stops serving, joins its threads). Declare it after the
// zmq::context_t and before the sockets, so that it goes after them and
// before the context. A moved-from observer is empty: its calls throw
// zmqobs::error EINVAL.
class observer
{
  public:
    using event_fn = detail::event_fn;

    // zmqobs_new with the defaults (a background thread drains monitors)
    // or the given options; throws zmqobs::error (EINVAL, EFAULT, ENOMEM,
    // ...) as zmqobs_new fails.
    explicit observer (zmq::context_t &ctx) : observer (ctx, nullptr)
    {
    }
    observer (zmq::context_t &ctx, const zmqobs_options_t &opts) : observer (ctx, &opts)
    {
    }
    observer (observer &&) noexcept = default;
    observer &operator= (observer &&) noexcept = default;
    observer (const observer &) = delete;
    observer &operator= (const observer &) = delete;
    ~observer () = default;

    // the C handle, for the C API (nullptr when empty)
    zmqobs_t *handle () const noexcept
    {
        return state_ ? state_->obs : nullptr;
    }

    // zmqobs_attach: attaches sock under name (unique in the observer).
    // Call it on the thread that owns sock, before bind or connect. Throws
    // zmqobs::error: EINVAL (bad name), ENOTSOCK, EEXIST (the name, or the
    // socket, is attached already), EXDEV, ETERM, EMFILE, ENOMEM.
    ZMQ_NODISCARD zmqobs::socket attach (zmq::socket_ref sock, const char *name)
    {
        zmqobs_socket_t *s = zmqobs_attach (handle (), sock.handle (), name);
        if (s == nullptr)
            detail::throw_errno ("zmqobs_attach");
        return zmqobs::socket (s, state_);
    }
    ZMQ_NODISCARD zmqobs::socket attach (zmq::socket_ref sock, const std::string &name)
    {
        return attach (sock, name.c_str ());
    }

    // Number of sockets attached now.
    int socket_count () const
    {
        int n = zmqobs_socket_count (handle ());
        if (n < 0)
            detail::throw_errno ("zmqobs_socket_count");
        return n;
    }

    // Every attached socket's metrics in the given format (zmqobs_format).
    // Any thread.
    std::string format (zmqobs::format f = zmqobs::format::prometheus) const
    {
        zmqobs_format_t cf = static_cast<zmqobs_format_t> (f);
        int need = zmqobs_format (handle (), cf, nullptr, 0);
        std::string out;
        // the text may grow between the measuring call and the next
        // (uptimes, events): then measure again with the longer length
        while (need >= 0) {
            out.resize (static_cast<size_t> (need) + 1);
            int got = zmqobs_format (handle (), cf, &out[0], out.size ());
            if (got >= 0 && static_cast<size_t> (got) < out.size ()) {
                out.resize (static_cast<size_t> (got));
                return out;
            }
            need = got;
        }
        detail::throw_errno ("zmqobs_format");
    }

    // zmqobs_serve: serves /metrics, /healthz and /readyz on endpoint
    // ("tcp://127.0.0.1:0" picks a free port). Returns the TCP port.
    // Throws zmqobs::error: EINVAL, EALREADY, EADDRINUSE, EADDRNOTAVAIL,
    // EACCES, EMFILE, ENOMEM. Any thread.
    int serve (const std::string &endpoint)
    {
        if (zmqobs_serve (handle (), endpoint.c_str ()) != 0)
            detail::throw_errno ("zmqobs_serve");
        return serve_port ();
    }
    // The port being served; throws zmqobs::error ENOTCONN if not serving.
    int serve_port () const
    {
        int port = zmqobs_serve_port (handle ());
        if (port < 0)
            detail::throw_errno ("zmqobs_serve_port");
        return port;
    }
    // zmqobs_serve_stop; throws zmqobs::error ENOTCONN if not serving.
    void serve_stop ()
    {
        if (zmqobs_serve_stop (handle ()) != 0)
            detail::throw_errno ("zmqobs_serve_stop");
    }

    // Readiness as /readyz reports it (zmqobs_ready).
    bool ready () const
    {
        int rc = zmqobs_ready (handle (), nullptr, 0);
        if (rc < 0)
            detail::throw_errno ("zmqobs_ready");
        return rc == 1;
    }

    // Calls fn for every monitor event (an empty fn removes it), on the
    // thread that drains monitors, as zmqobs_on_event says: fn must not
    // attach, detach, destroy or call on_event, and should return quickly.
    // The observer keeps fn alive until it is replaced or the observer is
    // destroyed; once on_event returns, the previous function is never
    // called again (and has been destroyed). An exception fn throws never
    // reaches the library's C code: it is caught and dropped, since there
    // is no caller to hand it to (catch what matters inside fn). Call it
    // from one thread at a time.
    void on_event (event_fn fn)
    {
        std::unique_ptr<event_fn> next;
        if (fn)
            next.reset (new event_fn (std::move (fn)));
        if (zmqobs_on_event (handle (), next ? zmqobs_i_cxx_on_event : nullptr, next.get ()) != 0)
            detail::throw_errno ("zmqobs_on_event");
        state_->callback.swap (next); // the previous one goes at the end of this scope
    }

    // Host-driven mode (options host_driven = 1): zmqobs_fd,
    // zmqobs_timeout_ms and zmqobs_process; zmqobs::error ENOTSUP when the
    // observer has its own thread, ETERM from process once the context is
    // terminated.
    int fd () const
    {
        int f = zmqobs_fd (handle ());
        if (f < 0)
            detail::throw_errno ("zmqobs_fd");
        return f;
    }
    long timeout_ms () const
    {
        long t = zmqobs_timeout_ms (handle ());
        if (t < -1)
            detail::throw_errno ("zmqobs_timeout_ms");
        return t;
    }
    int process (long wait_ms = 0)
    {
        int n = zmqobs_process (handle (), wait_ms);
        if (n < 0)
            detail::throw_errno ("zmqobs_process");
        return n;
    }

    // --------------------------------------------------------------------
    // Application metrics: counters, gauges and histograms the host
    // defines, exposed beside the socket metrics in every format
    // (zmqobs_counter_new, zmqobs_gauge_new, zmqobs_histogram_new). Throw
    // zmqobs::error: EINVAL (a name, help, label or bound refused), EEXIST
    // (that name with those labels exists), ENOSPC, ENOMEM. Any thread.
    // --------------------------------------------------------------------
    ZMQ_NODISCARD zmqobs::counter counter (const std::string &name, const std::string &help,
                                           const zmqobs::labels &l = {})
    {
        std::vector<zmqobs_label_t> cl = c_labels (l);
        zmqobs_metric_t *m = zmqobs_counter_new (handle (), name.c_str (), help.c_str (),
                                                 cl.empty () ? nullptr : cl.data (), cl.size ());
        if (m == nullptr)
            detail::throw_errno ("zmqobs_counter_new");
        return zmqobs::counter (m, state_);
    }
    ZMQ_NODISCARD zmqobs::gauge gauge (const std::string &name, const std::string &help,
                                       const zmqobs::labels &l = {})
    {
        std::vector<zmqobs_label_t> cl = c_labels (l);
        zmqobs_metric_t *m = zmqobs_gauge_new (handle (), name.c_str (), help.c_str (),
                                               cl.empty () ? nullptr : cl.data (), cl.size ());
        if (m == nullptr)
            detail::throw_errno ("zmqobs_gauge_new");
        return zmqobs::gauge (m, state_);
    }
    // bounds empty: the library's default bounds
    ZMQ_NODISCARD zmqobs::histogram histogram (const std::string &name, const std::string &help,
                                               const zmqobs::labels &l = {},
                                               const std::vector<double> &bounds = {})
    {
        std::vector<zmqobs_label_t> cl = c_labels (l);
        zmqobs_metric_t *m =
            zmqobs_histogram_new (handle (), name.c_str (), help.c_str (),
                                  cl.empty () ? nullptr : cl.data (), cl.size (),
                                  bounds.empty () ? nullptr : bounds.data (), bounds.size ());
        if (m == nullptr)
            detail::throw_errno ("zmqobs_histogram_new");
        return zmqobs::histogram (m, state_);
    }

  private:
    static std::vector<zmqobs_label_t> c_labels (const zmqobs::labels &l)
    {
        std::vector<zmqobs_label_t> cl;
        cl.reserve (l.size ());
        for (const auto &p : l)
            cl.push_back (zmqobs_label_t {p.first.c_str (), p.second.c_str ()});
        return cl;
    }

    observer (zmq::context_t &ctx, const zmqobs_options_t *opts)
        : state_ (std::make_shared<detail::observer_state> ())
    {
        state_->obs = zmqobs_new (ctx.handle (), opts);
        if (state_->obs == nullptr)
            detail::throw_errno ("zmqobs_new");
    }

    std::shared_ptr<detail::observer_state> state_;
};

} // namespace zmqobs

#endif /* ZMQOBS_HPP */
