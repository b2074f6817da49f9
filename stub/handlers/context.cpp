#include <fmt/format.h>

#include <algorithm>

#include "stub/handlers/handler.hpp"

namespace tlpstub::stub {

Context::Context(Target& t, std::size_t size, PacketFn send_packet)
    : target(t), packet_size(size), send_packet_(std::move(send_packet)) {}

std::int64_t Context::default_thread() {
  if (!default_thread_) {
    std::vector<ThreadInfo> all = target.threads();
    default_thread_ = all.empty() ? 1 : all.front().id;
  }
  return *default_thread_;
}

std::int64_t Context::current_thread() {
  return general_thread > 0 ? general_thread : default_thread();
}

std::int64_t Context::stop_thread() {
  if (continue_thread > 0) return continue_thread;
  return last_stop_thread_.value_or(default_thread());
}

std::string Context::stop_reply(int signal, std::int64_t thread) {
  last_stop_thread_ = thread;
  general_thread = thread;
  return fmt::format("T{:02x}thread:{:x};", signal, thread);
}

void Context::output(std::string_view text) {
  // "O" + two hex digits per byte must fit the packet size.
  const std::size_t chunk = std::max<std::size_t>((packet_size - 1) / 2, 1);
  for (std::size_t off = 0; off < text.size(); off += chunk)
    send_packet_("O" + hex_of(text.substr(off, chunk)));
}

void Context::output_attach_message_once() {
  output_attach_message_once([this](std::string_view t) { output(t); });
}

void Context::output_attach_message_once(const std::function<void(std::string_view)>& out) {
  if (attach_message_shown_) return;
  attach_message_shown_ = true;
  std::string msg = target.attach_message();
  if (msg.empty()) return;
  if (msg.back() != '\n') msg += '\n';
  out(msg);
}

}  // namespace tlpstub::stub
