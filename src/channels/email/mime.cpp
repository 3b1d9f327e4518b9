// MIME for the email channel. GMime parses what arrives (headers, multipart structure,
// transfer encodings, RFC 2047/2231), libxml2's HTML parser turns HTML-only mail into text,
// and iconv (through GMime's cached wrapper) converts charsets. Replies are composed by hand:
// a handful of headers whose folding, encoding and CRLF endings are ours to guarantee.
//
// This file compiles on its own (CMakeLists.txt: no unity batch, no PCH): glib's macros stay here.

#include "hermes/channels/email/mime.hpp"

#include <gmime/gmime.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <memory>
#include <mutex>

namespace hermes::channels::email {
namespace {

constexpr int kMimeMaxDepth = 16;                    // multipart nesting we descend into
constexpr int kMimeMaxParts = 100;                   // MIME parts considered per message
constexpr std::size_t kMimeMaxText = 64 * 1024;      // ParsedMail::text, bytes of UTF-8
constexpr std::size_t kMimeMaxWork = 1 << 20;        // decoded body bytes looked at before trimming
constexpr std::size_t kMimeMaxAddresses = 100;       // per address header
constexpr std::size_t kMimeMaxIds = 100;             // References / In-Reply-To ids kept
constexpr int kMimeMaxHtmlDepth = 256;               // element nesting html_to_text descends into
constexpr std::size_t kMimeMaxReplyReferences = 20;  // References we send: the first + the latest
constexpr std::size_t kMimeMaxIdLength = 900;        // longer message ids are dropped (998 is the line limit)
constexpr std::size_t kMimeMaxHeaderBlock = 256 * 1024;  // header bytes GMime is shown (Postfix keeps 100 KB)
constexpr std::size_t kMimeMaxHtml = 2 << 20;            // HTML bytes html_to_text parses
constexpr std::size_t kMimeMaxBoundaries = 128;      // "boundary" mentions GMime is shown (see mime_bound_nesting)

void mime_init_libraries() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_mime_init();
    xmlInitParser();
  });
}

struct MimeUnref {
  void operator()(gpointer object) const {
    if (object != nullptr) g_object_unref(object);
  }
};
template <class T>
using MimeRef = std::unique_ptr<T, MimeUnref>;

// ---------------------------------------------------------------------------------------
// Small string helpers

bool mime_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }

std::string_view mime_trim(std::string_view s) {
  while (!s.empty() && mime_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && mime_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string mime_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool mime_starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && mime_lower(s.substr(0, prefix.size())) == prefix;
}

bool mime_ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && mime_lower(s.substr(s.size() - suffix.size())) == suffix;
}

std::string mime_cstr(const char* s) { return s != nullptr ? std::string(s) : std::string(); }

void mime_append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Length of the valid UTF-8 sequence at s[i], or 0 when it is not one (overlong forms,
// surrogates and code points above U+10FFFF are not).
std::size_t mime_utf8_sequence(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    cp = b0 & 0x0F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

bool mime_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = mime_utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Valid UTF-8: each byte that does not start a valid sequence becomes U+FFFD.
std::string mime_make_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = mime_utf8_sequence(s, i);
    if (n == 0) {
      mime_append_utf8(out, 0xFFFD);
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

// At most max bytes of valid UTF-8 s, cut at a character boundary.
void mime_cap_utf8(std::string& s, std::size_t max) {
  if (s.size() <= max) return;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
}

// Body text: valid UTF-8, LF line endings, no NUL or other C0 controls but tab and LF.
std::string mime_clean_text(std::string_view raw) {
  const std::string utf8 = mime_make_utf8(raw);
  std::string out;
  out.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size(); ++i) {
    const char c = utf8[i];
    if (c == '\r') {
      out.push_back('\n');
      if (i + 1 < utf8.size() && utf8[i + 1] == '\n') ++i;
    } else if (c == '\n' || c == '\t' || static_cast<unsigned char>(c) >= 0x20) {
      if (c != 0x7F) out.push_back(c);
    }
  }
  return out;
}

// A header value: valid UTF-8 on one line, controls (CR and LF included) turned into spaces, trimmed.
std::string mime_clean_header(std::string_view raw) {
  std::string out = mime_make_utf8(raw);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
  return std::string(mime_trim(out));
}

std::vector<std::string_view> mime_split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t nl = text.find('\n', start);
    std::string_view line = text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return lines;
}

bool mime_blank(std::string_view line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (mime_space(line[i])) continue;
    if (line.compare(i, 2, "\xC2\xA0") == 0) {  // no-break space
      ++i;
      continue;
    }
    return false;
  }
  return true;
}

std::string mime_join_lines(const std::vector<std::string_view>& lines, std::size_t begin, std::size_t end) {
  while (begin < end && mime_blank(lines[begin])) ++begin;
  while (end > begin && mime_blank(lines[end - 1])) --end;
  std::string out;
  for (std::size_t i = begin; i < end; ++i) {
    if (i > begin) out.push_back('\n');
    out.append(lines[i]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Charsets

// Bytes in `charset` to valid UTF-8. Unlabelled or mislabelled-as-UTF-8 bytes that are not
// UTF-8 are read as Windows-1252 (as are ISO-8859-1 labels: its superset, as browsers do).
std::string mime_to_utf8(std::string_view bytes, std::string_view label) {
  std::string charset = mime_lower(mime_trim(label));
  if (charset.empty() || charset == "utf-8" || charset == "utf8" || charset == "us-ascii" || charset == "ascii" ||
      charset == "unknown-8bit" || charset == "x-unknown") {
    if (mime_valid_utf8(bytes)) return std::string(bytes);
    charset = "windows-1252";
  } else if (charset == "iso-8859-1" || charset == "iso8859-1" || charset == "iso_8859-1" || charset == "latin1" ||
             charset == "latin-1" || charset == "l1") {
    charset = "windows-1252";
  }
  const char* name = g_mime_charset_iconv_name(charset.c_str());
  iconv_t cd = g_mime_iconv_open("UTF-8", name != nullptr ? name : charset.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    if (mime_valid_utf8(bytes)) return std::string(bytes);
    if (charset == "windows-1252") return mime_make_utf8(bytes);
    return mime_to_utf8(bytes, "windows-1252");
  }
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2 + 16);
  std::array<char, 4096> buffer{};
  char* in = const_cast<char*>(bytes.data());
  std::size_t in_left = bytes.size();
  while (in_left > 0) {
    char* dst = buffer.data();
    std::size_t dst_left = buffer.size();
    const std::size_t rc = iconv(cd, &in, &in_left, &dst, &dst_left);
    const int err = errno;
    out.append(buffer.data(), buffer.size() - dst_left);
    if (rc != static_cast<std::size_t>(-1)) continue;
    if (err == E2BIG) continue;
    mime_append_utf8(out, 0xFFFD);
    if (err == EILSEQ && in_left > 0) {  // skip the byte iconv cannot read
      ++in;
      --in_left;
      continue;
    }
    break;  // EINVAL: an incomplete sequence at the end
  }
  // Flush a stateful encoding (ISO-2022-JP) back to its initial state.
  char* dst = buffer.data();
  std::size_t dst_left = buffer.size();
  iconv(cd, nullptr, nullptr, &dst, &dst_left);
  out.append(buffer.data(), buffer.size() - dst_left);
  g_mime_iconv_close(cd);
  return mime_make_utf8(out);
}

// GMime stops nesting at 1,024 levels but checks every line against every open boundary, so
// a few MB of nested multipart headers cost it seconds. Real mail declares a handful of
// boundaries: the message is cut before the line holding the 129th mention of "boundary"
// (case-insensitive; also catches "boundary =" spellings). Nothing past depth 16 and part
// 100 is read anyway.
std::string_view mime_bound_nesting(std::string_view raw) {
  static constexpr std::string_view kWord = "boundary";
  std::size_t seen = 0;
  for (std::size_t i = 0; i + kWord.size() <= raw.size(); ++i) {
    if ((raw[i] | 0x20) != 'b' || !mime_starts_with_ci(raw.substr(i, kWord.size()), kWord)) continue;
    if (++seen > kMimeMaxBoundaries) {
      const std::size_t line = raw.rfind('\n', i);
      return raw.substr(0, line == std::string_view::npos ? 0 : line + 1);
    }
    i += kWord.size() - 1;
  }
  return raw;
}

// GMime spends microseconds per header field (and memory): a header block past 256 KiB
// (no MTA passes one: Postfix truncates at 100 KB) is cut at a field boundary, the body kept.
// Returns raw itself when nothing is cut, else a view of `storage`.
std::string_view mime_bound_headers(std::string_view raw, std::string& storage) {
  std::size_t blank = std::string_view::npos;  // where the empty line that ends the header block starts
  if (raw.substr(0, 2) == "\r\n" || raw.substr(0, 1) == "\n") {
    blank = 0;
  } else {
    const std::size_t crlf = raw.find("\n\r\n");
    const std::size_t lf = raw.find("\n\n");
    const std::size_t end = std::min(crlf, lf);
    if (end != std::string_view::npos) blank = end + 1;
  }
  const std::size_t header_bytes = blank == std::string_view::npos ? raw.size() : blank;
  if (header_bytes <= kMimeMaxHeaderBlock) return raw;
  std::size_t cut = raw.rfind('\n', kMimeMaxHeaderBlock);
  for (std::size_t at = cut; at != std::string_view::npos && at > 0; at = raw.rfind('\n', at - 1)) {
    if (at + 1 < raw.size() && raw[at + 1] != ' ' && raw[at + 1] != '\t') {
      cut = at;
      break;
    }
  }
  storage.assign(raw.substr(0, cut == std::string_view::npos ? 0 : cut + 1));
  if (blank == std::string_view::npos)
    storage.append("\r\n");
  else
    storage.append(raw.substr(blank));
  return storage;
}

// ---------------------------------------------------------------------------------------
// Headers of the parsed message

void mime_collect_addresses(InternetAddressList* list, std::vector<MailAddress>& out, int depth = 0) {
  if (list == nullptr || depth > 2) return;
  const int count = internet_address_list_length(list);
  for (int i = 0; i < count && out.size() < kMimeMaxAddresses; ++i) {
    InternetAddress* ia = internet_address_list_get_address(list, i);
    if (ia == nullptr) continue;
    if (INTERNET_ADDRESS_IS_GROUP(ia)) {
      mime_collect_addresses(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)), out, depth + 1);
    } else if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
      MailAddress a;
      a.name = mime_clean_header(mime_cstr(internet_address_get_name(ia)));
      a.address = mime_clean_header(mime_cstr(internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia))));
      out.push_back(std::move(a));
    }
  }
}

std::string mime_header(GMimeObject* object, const char* name) {
  return mime_cstr(g_mime_object_get_header(object, name));
}

std::vector<std::string> mime_message_ids(GMimeParserOptions* options, const std::string& value) {
  std::vector<std::string> ids;
  if (value.empty()) return ids;
  GMimeReferences* refs = g_mime_references_parse(options, value.c_str());
  if (refs == nullptr) return ids;
  const int count = g_mime_references_length(refs);
  for (int i = 0; i < count && ids.size() < kMimeMaxIds; ++i) {
    std::string id = mime_clean_header(mime_cstr(g_mime_references_get_message_id(refs, i)));
    if (!id.empty() && id.size() <= kMimeMaxIdLength) ids.push_back(std::move(id));
  }
  g_mime_references_free(refs);
  return ids;
}

// ---------------------------------------------------------------------------------------
// Body

// format=flowed (RFC 3676): a line ending in a space continues on the next one (with the
// same quote depth); delsp=yes means that space is not part of the text.
std::string mime_unflow(std::string_view text, bool delsp) {
  const auto lines = mime_split_lines(text);
  auto depth_of = [](std::string_view line) {
    std::size_t d = 0;
    while (d < line.size() && line[d] == '>') ++d;
    return d;
  };
  std::string out;
  bool joining = false;
  std::size_t join_depth = 0;
  for (std::string_view line : lines) {
    const std::size_t depth = depth_of(line);
    if (joining && depth == join_depth) {
      line.remove_prefix(depth);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);  // space-stuffing
    } else if (joining) {
      out.push_back('\n');
    }
    const bool flowed = !line.empty() && line.back() == ' ' && line != "-- " && mime_trim(line) != ">";
    if (flowed && delsp) line.remove_suffix(1);
    out.append(line);
    joining = flowed;
    join_depth = depth;
    if (!flowed) out.push_back('\n');
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

struct MimeBodyPiece {
  bool html = false;
  std::string text;  // UTF-8, LF endings
};

class MimeWalker {
 public:
  std::vector<Attachment> attachments;

  void walk(GMimeObject* object, int depth, std::vector<MimeBodyPiece>& out) {
    if (object == nullptr || depth > kMimeMaxDepth || parts_ >= kMimeMaxParts) return;
    ++parts_;
    if (GMIME_IS_MULTIPART(object)) {
      walk_multipart(GMIME_MULTIPART(object), depth, out);
    } else if (GMIME_IS_MESSAGE_PART(object)) {
      Attachment a;
      a.name = part_name(object);
      a.type = "message/rfc822";
      GMimeMessage* inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(object));
      if (inner != nullptr) a.size = written_size(GMIME_OBJECT(inner), nullptr);
      attachments.push_back(std::move(a));
    } else if (GMIME_IS_PART(object)) {
      walk_leaf(GMIME_PART(object), out);
    }
  }

 private:
  int parts_ = 0;
  std::size_t text_bytes_ = 0;

  void walk_multipart(GMimeMultipart* multipart, int depth, std::vector<MimeBodyPiece>& out) {
    const int count = g_mime_multipart_get_count(multipart);
    GMimeContentType* type = g_mime_object_get_content_type(GMIME_OBJECT(multipart));
    const bool alternative = type != nullptr && g_mime_content_type_is_type(type, "multipart", "alternative");
    if (!alternative) {
      for (int i = 0; i < count && parts_ < kMimeMaxParts; ++i)
        walk(g_mime_multipart_get_part(multipart, i), depth + 1, out);
      return;
    }
    // multipart/alternative: the first alternative with plain text, else the richest (last) one with any.
    std::vector<std::vector<MimeBodyPiece>> choices;
    for (int i = 0; i < count && parts_ < kMimeMaxParts; ++i) {
      choices.emplace_back();
      walk(g_mime_multipart_get_part(multipart, i), depth + 1, choices.back());
    }
    std::vector<MimeBodyPiece>* chosen = nullptr;
    for (auto& choice : choices) {
      const bool plain = std::any_of(choice.begin(), choice.end(), [](const MimeBodyPiece& p) {
        return !p.html && !mime_trim(p.text).empty();
      });
      if (plain) {
        chosen = &choice;
        break;
      }
    }
    if (chosen == nullptr) {
      for (auto it = choices.rbegin(); it != choices.rend() && chosen == nullptr; ++it)
        if (!it->empty()) chosen = &*it;
    }
    if (chosen != nullptr)
      for (auto& piece : *chosen) out.push_back(std::move(piece));
  }

  void walk_leaf(GMimePart* part, std::vector<MimeBodyPiece>& out) {
    GMimeObject* object = GMIME_OBJECT(part);
    std::string type = "application/octet-stream";
    if (GMimeContentType* ct = g_mime_object_get_content_type(object); ct != nullptr) {
      char* mime_type = g_mime_content_type_get_mime_type(ct);
      if (mime_type != nullptr) type = mime_lower(mime_trim(mime_type));
      g_free(mime_type);
    }
    GMimeContentDisposition* disposition = g_mime_object_get_content_disposition(object);
    const bool attached = disposition != nullptr && g_mime_content_disposition_is_attachment(disposition);
    const bool plain = type == "text/plain";
    const bool html = type == "text/html";
    if (!attached && (plain || html)) {
      if (text_bytes_ >= kMimeMaxWork) return;
      MimeRef<GMimeStream> stream(g_mime_stream_mem_new());
      written_size(object, stream.get());
      GByteArray* bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream.get()));
      std::string_view raw;
      if (bytes != nullptr && bytes->data != nullptr)
        raw = std::string_view(reinterpret_cast<const char*>(bytes->data), bytes->len);
      raw = raw.substr(0, kMimeMaxWork - text_bytes_);
      text_bytes_ += raw.size();
      std::string text = mime_to_utf8(raw, mime_cstr(g_mime_object_get_content_type_parameter(object, "charset")));
      MimeBodyPiece piece;
      piece.html = html;
      if (html) {
        piece.text = html_to_text(text);
      } else {
        piece.text = mime_clean_text(text);
        const std::string format = mime_lower(mime_cstr(g_mime_object_get_content_type_parameter(object, "format")));
        if (format == "flowed") {
          const std::string delsp = mime_lower(mime_cstr(g_mime_object_get_content_type_parameter(object, "delsp")));
          piece.text = mime_unflow(piece.text, delsp == "yes");
        }
      }
      out.push_back(std::move(piece));
      return;
    }
    if (type == "application/pgp-signature" || type == "application/pkcs7-signature" ||
        type == "application/x-pkcs7-signature")
      return;  // the signature of a multipart/signed: not something the sender attached
    Attachment a;
    a.name = part_name(object);
    a.type = type;
    a.size = written_size(object, nullptr);
    attachments.push_back(std::move(a));
  }

  static std::string part_name(GMimeObject* object) {
    const char* name = nullptr;
    if (GMIME_IS_PART(object)) {
      name = g_mime_part_get_filename(GMIME_PART(object));  // disposition filename, else content-type name
    } else {
      if (GMimeContentDisposition* d = g_mime_object_get_content_disposition(object); d != nullptr)
        name = g_mime_content_disposition_get_parameter(d, "filename");
      if (name == nullptr) name = g_mime_object_get_content_type_parameter(object, "name");
    }
    return mime_clean_header(mime_cstr(name));
  }

  // Decodes a leaf's content (or writes an embedded message) into `into`, or only counts the
  // bytes when `into` is null; returns how many.
  static std::size_t written_size(GMimeObject* object, GMimeStream* into) {
    MimeRef<GMimeStream> counter;
    GMimeStream* target = into;
    if (target == nullptr) {
      counter.reset(g_mime_stream_null_new());
      target = counter.get();
    }
    gint64 written = 0;
    if (GMIME_IS_PART(object)) {
      GMimeDataWrapper* content = g_mime_part_get_content(GMIME_PART(object));
      if (content != nullptr) written = g_mime_data_wrapper_write_to_stream(content, target);
    } else {
      written = g_mime_object_write_to_stream(object, nullptr, target);
    }
    return written > 0 ? static_cast<std::size_t>(written) : 0;
  }
};

// ---------------------------------------------------------------------------------------
// HTML to text

class MimeHtmlText {
 public:
  std::string take() {
    auto lines = mime_split_lines(out_);
    return mime_join_lines(lines, 0, lines.size());
  }

  void node(xmlNode* n, int depth) {
    for (; n != nullptr; n = n->next) {
      if (out_.size() > kMimeMaxWork) return;
      if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        text(n->content != nullptr ? reinterpret_cast<const char*>(n->content) : "");
      } else if (n->type == XML_ELEMENT_NODE && depth < kMimeMaxHtmlDepth) {
        element(n, depth);
      }
    }
  }

 private:
  std::string out_;
  int pending_breaks_ = 0;  // line breaks owed before the next text
  bool pending_space_ = false;
  int quote_ = 0;  // blockquote depth: lines start "> "
  int pre_ = 0;
  int lists_ = 0;
  bool row_has_cell_ = false;

  static bool is(std::string_view name, std::initializer_list<std::string_view> names) {
    return std::find(names.begin(), names.end(), name) != names.end();
  }

  void block(int breaks) { pending_breaks_ = std::max(pending_breaks_, breaks); }

  bool at_line_start() const { return out_.empty() || out_.back() == '\n'; }

  void line_break() {
    if (!out_.empty()) out_.push_back('\n');
    pending_space_ = false;
  }

  // Appends s (no newlines) after the owed breaks, quote prefix and word space.
  void put(std::string_view s) {
    if (s.empty()) return;
    if (pending_breaks_ > 0 && !out_.empty()) {
      int have = 0;
      for (auto it = out_.rbegin(); it != out_.rend() && *it == '\n' && have < 2; ++it) ++have;
      for (int i = have; i < pending_breaks_; ++i) out_.push_back('\n');
      pending_space_ = false;
    }
    pending_breaks_ = 0;
    if (at_line_start()) {
      for (int i = 0; i < quote_; ++i) out_.append("> ");
    } else if (pending_space_) {
      out_.push_back(' ');
    }
    pending_space_ = false;
    out_.append(s);
  }

  void text(std::string_view s) {
    if (pre_ > 0) {
      std::size_t start = 0;
      while (start <= s.size()) {
        const std::size_t nl = s.find('\n', start);
        std::string_view piece = s.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
        if (!piece.empty() && piece.back() == '\r') piece.remove_suffix(1);
        put(piece);
        if (nl == std::string_view::npos) break;
        if (pending_breaks_ == 0) out_.push_back('\n');
        start = nl + 1;
      }
      return;
    }
    std::string word;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (mime_space(s[i])) {
        if (!word.empty()) put(word);
        word.clear();
        pending_space_ = true;
      } else if (s.compare(i, 2, "\xC2\xA0") == 0) {  // &nbsp;: a space that does not collapse
        word.push_back(' ');
        ++i;
      } else {
        word.push_back(s[i]);
      }
    }
    if (!word.empty()) put(word);
  }

  void element(xmlNode* n, int depth) {
    const std::string name = mime_lower(n->name != nullptr ? reinterpret_cast<const char*>(n->name) : "");
    if (is(name, {"script", "style", "head", "title", "template", "iframe", "object", "select", "img"})) return;
    if (name == "br") {
      line_break();
      return;
    }
    if (name == "hr") {
      block(2);
      return;
    }
    const bool paragraph = is(name, {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "pre", "blockquote"});
    const bool line = is(name, {"div", "li", "tr", "table", "dt", "dd", "section", "article", "header", "footer",
                                "nav", "aside", "main", "figure", "figcaption", "address", "form", "fieldset",
                                "center", "caption", "details", "summary", "tbody", "thead", "tfoot"});
    // A list inside a list item is on its own lines but not a paragraph.
    const int breaks = paragraph && !(lists_ > 0 && (name == "ul" || name == "ol")) ? 2 : (paragraph || line ? 1 : 0);
    if (breaks > 0) block(breaks);
    if (name == "blockquote") ++quote_;
    if (name == "pre") ++pre_;
    if (name == "ul" || name == "ol") ++lists_;
    if (name == "tr") row_has_cell_ = false;
    if (name == "td" || name == "th") {
      if (row_has_cell_) pending_space_ = true;
      row_has_cell_ = true;
    }
    if (name == "li") {
      put(std::string(static_cast<std::size_t>(std::max(0, lists_ - 1)) * 2, ' ') + "-");
      pending_space_ = true;
    }
    const std::size_t start = out_.size();
    node(n->children, depth + 1);
    if (name == "a") link(n, start);
    if (name == "blockquote") --quote_;
    if (name == "pre") --pre_;
    if (name == "ul" || name == "ol") --lists_;
    if (breaks > 0) block(breaks);
    if (name == "td" || name == "th") pending_space_ = true;
  }

  void link(xmlNode* n, std::size_t start) {
    xmlChar* href_raw = xmlGetProp(n, reinterpret_cast<const xmlChar*>("href"));
    if (href_raw == nullptr) return;
    std::string href(mime_trim(reinterpret_cast<const char*>(href_raw)));
    xmlFree(href_raw);
    const std::string label(mime_trim(std::string_view(out_).substr(std::min(start, out_.size()))));
    if (label.empty() || href.empty() || href.size() > 2048 || href.front() == '#' ||
        mime_starts_with_ci(href, "javascript:") || mime_starts_with_ci(href, "cid:") ||
        mime_starts_with_ci(href, "data:"))
      return;
    std::string bare = href;
    for (std::string_view scheme : {"mailto:", "tel:", "https://", "http://"})
      if (mime_starts_with_ci(bare, scheme)) bare = bare.substr(scheme.size());
    if (!bare.empty() && bare.back() == '/') bare.pop_back();
    if (label == href || label == bare || mime_lower(label) == mime_lower(bare)) return;
    for (char& c : href)
      if (mime_space(c)) c = ' ';
    pending_space_ = true;
    put("(" + href + ")");
  }
};

// ---------------------------------------------------------------------------------------
// Quote trimming

bool mime_quoted(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  return i < line.size() && line[i] == '>';
}

std::string_view mime_unbold(std::string_view line) {
  line = mime_trim(line);
  while (!line.empty() && (line.front() == '*' || line.front() == '_')) line.remove_prefix(1);
  return mime_trim(line);
}

bool mime_starts_with_any(std::string_view line, std::initializer_list<std::string_view> prefixes) {
  for (std::string_view p : prefixes)
    if (mime_starts_with_ci(line, p)) return true;
  return false;
}

bool mime_attribution(std::string_view raw) {
  const std::string_view line = mime_trim(raw);
  if (line.empty() || line.size() > 400) return false;
  for (std::string_view end : {"wrote:", "writes:", "schrieb:", "a écrit :", "a écrit:", "escribió:", "scrisse:",
                               "skrev:", "schreef:", "napisał:", "kirjoitti:", "escreveu:"})
    if (mime_ends_with_ci(line, end)) return true;
  // Am 07.12.2026 um 10:00 schrieb Ana <a@x>:
  return mime_starts_with_ci(line, "am ") && line.back() == ':' && mime_lower(line).find(" schrieb ") != std::string::npos;
}

bool mime_attribution_start(std::string_view raw) {
  const std::string_view line = mime_trim(raw);
  return mime_starts_with_any(line, {"on ", "am ", "le ", "el ", "em ", "il ", "op ", "den "});
}

bool mime_original_message(std::string_view raw) {
  std::string_view line = mime_trim(raw);
  if (line.size() < 4 || line.substr(0, 2) != "--") return false;
  while (!line.empty() && line.front() == '-') line.remove_prefix(1);
  while (!line.empty() && line.back() == '-') line.remove_suffix(1);
  const std::string inner = mime_lower(mime_trim(line));
  return inner == "original message" || inner == "ursprüngliche nachricht" || inner == "message d'origine" ||
         inner == "mensaje original" || inner == "originalmeddelande" || inner == "oorspronkelijk bericht";
}

bool mime_forward_marker(std::string_view raw) {
  const std::string line = mime_lower(mime_trim(raw));
  return line.find("forwarded message") != std::string::npos || line.find("weitergeleitete nachricht") != std::string::npos ||
         line.find("message transféré") != std::string::npos;
}

// An Outlook header block: "From: …" then, within a few lines, "Sent: …" and "To:"/"Subject: …".
bool mime_outlook_block(const std::vector<std::string_view>& lines, std::size_t i) {
  if (!mime_starts_with_any(mime_unbold(lines[i]), {"from:", "von:", "de :", "de:", "från:", "van:"})) return false;
  bool sent = false, addressed = false;
  for (std::size_t k = i + 1; k < lines.size() && k <= i + 6; ++k) {
    const std::string_view l = mime_unbold(lines[k]);
    if (mime_starts_with_any(l, {"sent:", "date:", "gesendet:", "datum:", "envoyé :", "envoyé:", "enviado:",
                                 "enviado el:", "skickat:", "verzonden:"}))
      sent = true;
    if (mime_starts_with_any(l, {"to:", "subject:", "cc:", "an:", "betreff:", "objet :", "objet:", "à :", "para:",
                                 "asunto:", "till:", "ämne:", "aan:", "onderwerp:"}))
      addressed = true;
  }
  return sent && addressed;
}

// ---------------------------------------------------------------------------------------
// Composition

constexpr std::size_t kMimeFoldAt = 78;

bool mime_needs_encoding(std::string_view s) {
  if (s.find("=?") != std::string_view::npos) return true;
  std::size_t word = 0;
  for (char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 0x80 || b < 0x20 || b == 0x7F) return true;
    word = c == ' ' ? 0 : word + 1;
    if (word > 66) return true;  // a word that could not be folded
  }
  return false;
}

// RFC 2047 Q-encoded words for UTF-8 text, each at most 64 characters and cut at character
// boundaries, so "Subject: " plus one fits in 78. (Not B: GMime 3.2 joins adjacent B words
// before decoding them and loses the text after a word that ends in '=' padding.)
std::vector<std::string> mime_encoded_words(std::string_view utf8) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  static constexpr std::size_t kMaxEncoded = 64 - 12;  // "=?utf-8?q?" + "?="
  std::vector<std::string> words;
  std::string current;
  std::size_t i = 0;
  while (i < utf8.size()) {
    std::size_t n = mime_utf8_sequence(utf8, i);
    if (n == 0) n = 1;
    std::string encoded;
    for (std::size_t k = i; k < i + n; ++k) {
      const auto b = static_cast<unsigned char>(utf8[k]);
      if ((b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || b == '!' || b == '*' ||
          b == '+' || b == '-' || b == '/') {
        encoded.push_back(static_cast<char>(b));
      } else if (b == ' ') {
        encoded.push_back('_');
      } else {
        encoded.push_back('=');
        encoded.push_back(kHex[b >> 4]);
        encoded.push_back(kHex[b & 0x0F]);
      }
    }
    if (!current.empty() && current.size() + encoded.size() > kMaxEncoded) {
      words.push_back("=?utf-8?q?" + current + "?=");
      current.clear();
    }
    current += encoded;
    i += n;
  }
  if (!current.empty()) words.push_back("=?utf-8?q?" + current + "?=");
  return words;
}

std::vector<std::string> mime_words(std::string_view s) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) words.emplace_back(s.substr(start, i - start));
  }
  return words;
}

// Unstructured text (Subject) or a display name as header tokens.
std::vector<std::string> mime_text_tokens(std::string_view value, bool phrase) {
  if (mime_needs_encoding(value)) return mime_encoded_words(value);
  if (phrase && value.find_first_of("()<>[]:;@\\,.\"") != std::string_view::npos) {
    std::string quoted = "\"";
    for (char c : value) {
      if (c == '"' || c == '\\') quoted.push_back('\\');
      quoted.push_back(c);
    }
    quoted.push_back('"');
    return mime_words(quoted);
  }
  return mime_words(value);
}

// "Name: tok tok tok" folded before a token that would pass column 78 (a token longer than a
// line stays whole: message ids cannot be split).
void mime_add_header(std::string& out, std::string_view name, const std::vector<std::string>& tokens) {
  out.append(name);
  out.push_back(':');
  std::size_t column = name.size() + 1;
  bool first = true;
  for (const std::string& token : tokens) {
    if (!first && column + 1 + token.size() > kMimeFoldAt) {
      out.append("\r\n");
      column = 0;
    }
    out.push_back(' ');
    out.append(token);
    column += 1 + token.size();
    first = false;
  }
  out.append("\r\n");
}

std::string mime_safe_address(std::string_view raw) {
  std::string out;
  for (char c : mime_clean_header(raw))
    if (c != ' ' && c != '<' && c != '>' && c != ',' && c != ';' && c != '"') out.push_back(c);
  return out;
}

std::string mime_safe_id(std::string_view raw) {
  std::string out = mime_safe_address(raw);
  return out.size() <= kMimeMaxIdLength ? out : std::string();
}

std::vector<std::string> mime_address_tokens(const MailAddress& a) {
  const std::string address = mime_safe_address(a.address);
  if (address.empty()) return {"undisclosed-recipients:;"};
  const std::string name = mime_clean_header(a.name);
  std::vector<std::string> tokens;
  if (!name.empty()) tokens = mime_text_tokens(name, true);
  tokens.push_back(name.empty() ? address : "<" + address + ">");
  return tokens;
}

std::string mime_date(std::int64_t unix_seconds) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return "Thu, 01 Jan 1970 00:00:00 +0000";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[static_cast<std::size_t>(tm.tm_wday % 7)],
                tm.tm_mday, kMonths[static_cast<std::size_t>(tm.tm_mon % 12)], tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buf;
}

// One body line as quoted-printable, soft-broken so no encoded line passes 76 characters.
void mime_qp_line(std::string& out, std::string_view line) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::size_t column = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const auto b = static_cast<unsigned char>(line[i]);
    const bool last = i + 1 == line.size();
    const bool literal = ((b >= 33 && b <= 126 && b != '=') || ((b == ' ' || b == '\t') && !last)) &&
                         !(i == 0 && line.substr(0, 5) == "From ");  // mbox-safe
    char token[3] = {static_cast<char>(b), 0, 0};
    std::size_t len = 1;
    if (!literal) {
      token[0] = '=';
      token[1] = kHex[b >> 4];
      token[2] = kHex[b & 0x0F];
      len = 3;
    }
    if (column + len > 75) {
      out.append("=\r\n");
      column = 0;
    }
    out.append(token, len);
    column += len;
  }
  out.append("\r\n");
}

}  // namespace

// ---------------------------------------------------------------------------------------

ParsedMail parse_mail(std::string_view raw) {
  ParsedMail mail;
  if (mime_trim(raw).empty()) {
    mail.problem = "empty message";
    return mail;
  }
  mime_init_libraries();
  GMimeParserOptions* options = g_mime_parser_options_new();
  g_mime_parser_options_set_address_compliance_mode(options, GMIME_RFC_COMPLIANCE_LOOSE);
  g_mime_parser_options_set_parameter_compliance_mode(options, GMIME_RFC_COMPLIANCE_LOOSE);
  g_mime_parser_options_set_rfc2047_compliance_mode(options, GMIME_RFC_COMPLIANCE_LOOSE);
  std::string storage;
  const std::string_view bounded = mime_bound_nesting(mime_bound_headers(raw, storage));
  MimeRef<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(bounded.data(), bounded.size()));
  MimeRef<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  MimeRef<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), options));
  GMimeObject* object = message ? GMIME_OBJECT(message.get()) : nullptr;
  if (object == nullptr || g_mime_header_list_get_count(g_mime_object_get_header_list(object)) == 0) {
    g_mime_parser_options_free(options);
    mail.problem = "not an email message: no header block";
    return mail;
  }

  mail.message_id = mime_clean_header(mime_cstr(g_mime_message_get_message_id(message.get())));
  if (mail.message_id.size() > kMimeMaxIdLength) mail.message_id.clear();
  mail.in_reply_to = mime_message_ids(options, mime_header(object, "In-Reply-To"));
  mail.references = mime_message_ids(options, mime_header(object, "References"));
  mail.subject = mime_clean_header(mime_cstr(g_mime_message_get_subject(message.get())));
  std::vector<MailAddress> addresses;
  mime_collect_addresses(g_mime_message_get_from(message.get()), addresses);
  if (!addresses.empty()) mail.from = addresses.front();
  addresses.clear();
  mime_collect_addresses(g_mime_message_get_reply_to(message.get()), addresses);
  if (!addresses.empty()) mail.reply_to = addresses.front();
  mime_collect_addresses(g_mime_message_get_to(message.get()), mail.to);
  mime_collect_addresses(g_mime_message_get_cc(message.get()), mail.cc);
  mail.auto_submitted = mime_lower(mime_clean_header(mime_header(object, "Auto-Submitted")));
  mail.precedence = mime_lower(mime_clean_header(mime_header(object, "Precedence")));
  for (const char* header : {"List-Id", "List-Unsubscribe", "List-Post", "List-Help", "X-Mailing-List", "Mailing-List"}) {
    mail.list = mail.list || g_mime_object_get_header(object, header) != nullptr;
  }
  for (const char* header : {"X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress", "X-Autogenerated"}) {
    mail.autoresponder = mail.autoresponder || g_mime_object_get_header(object, header) != nullptr;
  }
  if (GMimeObject* top = g_mime_message_get_mime_part(message.get()); top != nullptr) {
    GMimeContentType* type = g_mime_object_get_content_type(top);
    mail.report = type != nullptr && g_mime_content_type_is_type(type, "multipart", "report");
  }

  const bool addressed = g_mime_object_get_header(object, "From") != nullptr ||
                         g_mime_object_get_header(object, "Sender") != nullptr ||
                         g_mime_object_get_header(object, "To") != nullptr ||
                         g_mime_object_get_header(object, "Subject") != nullptr ||
                         g_mime_object_get_header(object, "Message-ID") != nullptr ||
                         g_mime_object_get_header(object, "Date") != nullptr;
  g_mime_parser_options_free(options);
  if (!addressed) {
    mail.problem = "not an email message: none of From, To, Subject, Date, Message-ID";
    return mail;
  }

  MimeWalker walker;
  std::vector<MimeBodyPiece> pieces;
  walker.walk(g_mime_message_get_mime_part(message.get()), 0, pieces);
  mail.attachments = std::move(walker.attachments);
  std::string text;
  for (const MimeBodyPiece& piece : pieces) {
    const std::string_view t = mime_trim(piece.text);
    if (t.empty()) continue;
    if (!text.empty()) text.append("\n\n");
    text.append(t);
  }
  mail.text = trim_quoted(text);
  mime_cap_utf8(mail.text, kMimeMaxText);
  return mail;
}

std::string trim_quoted(std::string_view input) {
  const std::string text = mime_clean_text(input);
  const auto lines = mime_split_lines(text);
  std::size_t end = lines.size();

  // A signature, and Outlook's "-----Original Message-----" or "From: … Sent: …" header blocks:
  // everything from the first of them on.
  for (std::size_t i = 0; i < end; ++i) {
    if (lines[i] == "-- " || lines[i] == "--" || mime_original_message(lines[i])) {
      end = i;
      break;
    }
    if (mime_outlook_block(lines, i)) {
      std::size_t k = i;
      while (k > 0 && mime_blank(lines[k - 1])) --k;
      if (k > 0 && mime_forward_marker(lines[k - 1])) continue;  // a forwarded message is content
      end = i;
      if (k > 0 && mime_trim(lines[k - 1]).find("_____") == 0) end = k - 1;  // Outlook's rule above the block
      break;
    }
  }

  // The trailing '>'-quoted block, and the attribution line ("On … wrote:") before it.
  std::size_t j = end;
  bool quoted = false;
  while (j > 0 && (mime_blank(lines[j - 1]) || mime_quoted(lines[j - 1]))) {
    quoted = quoted || mime_quoted(lines[j - 1]);
    --j;
  }
  if (quoted) {
    end = j;
    std::size_t k = j;
    while (k > 0 && mime_blank(lines[k - 1])) --k;
    if (k > 0 && mime_attribution(lines[k - 1])) {
      end = k - 1;
      // Gmail wraps a long attribution line: "On Mon, 7 Dec 2026 at 10:00, Ana <\na@x> wrote:"
      if (k > 1 && !mime_attribution_start(lines[k - 1]) && mime_attribution_start(lines[k - 2]) &&
          !mime_blank(lines[k - 2]))
        end = k - 2;
    }
  }

  std::string out = mime_join_lines(lines, 0, end);
  if (out.empty()) out = mime_join_lines(lines, 0, lines.size());  // nothing but history: keep it
  return out;
}

std::string html_to_text(std::string_view html) {
  if (mime_trim(html).empty()) return {};
  mime_init_libraries();
  const std::string utf8 = mime_make_utf8(html.substr(0, kMimeMaxHtml));
  htmlDocPtr doc = htmlReadMemory(utf8.data(), static_cast<int>(utf8.size()), nullptr, "UTF-8",
                                  HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET |
                                      HTML_PARSE_IGNORE_ENC);
  if (doc == nullptr) return {};
  MimeHtmlText walker;
  walker.node(xmlDocGetRootElement(doc), 0);
  xmlFreeDoc(doc);
  return mime_clean_text(walker.take());
}

std::string reply_subject(std::string_view subject) {
  std::string_view s = subject;
  while (!s.empty() && mime_space(s.front())) s.remove_prefix(1);
  std::size_t i = 0;
  while (i < s.size() && i < 6 && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) ++i;
  const std::string word = mime_lower(s.substr(0, i));
  if (word == "re" || word == "aw" || word == "sv" || word == "antw" || word == "odp" || word == "vs" ||
      word == "rif" || word == "ynt") {
    std::size_t k = i;
    if (k < s.size() && (s[k] == '[' || s[k] == '(')) {
      const char close = s[k] == '[' ? ']' : ')';
      ++k;
      while (k < s.size() && s[k] >= '0' && s[k] <= '9') ++k;
      k = k < s.size() && s[k] == close ? k + 1 : std::string_view::npos;
    }
    while (k < s.size() && s[k] == ' ') ++k;
    if (k < s.size() && s[k] == ':') return std::string(subject);
  }
  const std::string_view rest = mime_trim(subject);
  return rest.empty() ? std::string("Re:") : "Re: " + std::string(rest);
}

std::string compose_reply(const OutgoingMail& mail) {
  std::string out;
  mime_add_header(out, "From", mime_address_tokens(mail.from));
  mime_add_header(out, "To", mime_address_tokens(mail.to));
  const std::string subject = mime_clean_header(reply_subject(mime_clean_header(mail.subject)));
  mime_add_header(out, "Subject", mime_text_tokens(subject, false));
  mime_add_header(out, "Date", mime_words(mime_date(mail.date_unix)));
  if (const std::string id = mime_safe_id(mail.message_id); !id.empty())
    mime_add_header(out, "Message-ID", {"<" + id + ">"});
  const std::string parent = mime_safe_id(mail.in_reply_to);
  std::vector<std::string> references;
  for (const std::string& r : mail.references) {
    const std::string id = mime_safe_id(r);
    if (!id.empty() && id != parent && std::find(references.begin(), references.end(), id) == references.end())
      references.push_back(id);
  }
  if (!parent.empty()) {
    mime_add_header(out, "In-Reply-To", {"<" + parent + ">"});
    references.push_back(parent);
  }
  if (references.size() > kMimeMaxReplyReferences)  // the thread's root and the latest ones
    references.erase(references.begin() + 1,
                     references.begin() + static_cast<std::ptrdiff_t>(references.size() - kMimeMaxReplyReferences + 1));
  if (!references.empty()) {
    for (std::string& r : references) r = "<" + r + ">";
    mime_add_header(out, "References", references);
  }
  mime_add_header(out, "MIME-Version", {"1.0"});
  mime_add_header(out, "Content-Type", {"text/plain;", "charset=utf-8"});
  mime_add_header(out, "Content-Transfer-Encoding", {"quoted-printable"});
  mime_add_header(out, "Auto-Submitted", {"auto-replied"});
  out.append("\r\n");
  const std::string body = mime_clean_text(mail.text);
  for (std::string_view line : mime_split_lines(body)) mime_qp_line(out, line);
  return out;
}

}  // namespace hermes::channels::email
