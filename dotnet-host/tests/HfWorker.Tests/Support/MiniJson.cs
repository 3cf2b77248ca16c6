using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace HfWorker.Tests.Support
{
    /// <summary>
    /// A small JSON reader for test data only (the vector files): objects become
    /// Dictionary&lt;string, object&gt; in document order, arrays object[], integers long (ulong when
    /// larger), other numbers double. The library itself has no JSON.
    /// </summary>
    internal sealed class MiniJson
    {
        private readonly string _text;
        private int _pos;

        private MiniJson(string text)
        {
            _text = text;
        }

        public static object Parse(string text)
        {
            var parser = new MiniJson(text);
            var value = parser.Value();
            parser.Space();
            if (parser._pos != text.Length) throw parser.Error("trailing characters");
            return value;
        }

        private object Value()
        {
            Space();
            if (_pos >= _text.Length) throw Error("unexpected end");
            char c = _text[_pos];
            switch (c)
            {
                case '{': return Object();
                case '[': return Array();
                case '"': return String();
                case 't': Expect("true"); return true;
                case 'f': Expect("false"); return false;
                case 'n': Expect("null"); return null;
                default: return Number();
            }
        }

        private Dictionary<string, object> Object()
        {
            var map = new Dictionary<string, object>();
            _pos++;
            Space();
            if (_text[_pos] == '}')
            {
                _pos++;
                return map;
            }
            while (true)
            {
                Space();
                string key = String();
                Space();
                if (_text[_pos++] != ':') throw Error("expected ':'");
                map[key] = Value();
                Space();
                char c = _text[_pos++];
                if (c == '}') return map;
                if (c != ',') throw Error("expected ',' or '}'");
            }
        }

        private object[] Array()
        {
            var items = new List<object>();
            _pos++;
            Space();
            if (_text[_pos] == ']')
            {
                _pos++;
                return items.ToArray();
            }
            while (true)
            {
                items.Add(Value());
                Space();
                char c = _text[_pos++];
                if (c == ']') return items.ToArray();
                if (c != ',') throw Error("expected ',' or ']'");
            }
        }

        private string String()
        {
            if (_text[_pos] != '"') throw Error("expected a string");
            _pos++;
            var text = new StringBuilder();
            while (true)
            {
                char c = _text[_pos++];
                if (c == '"') return text.ToString();
                if (c != '\\')
                {
                    text.Append(c);
                    continue;
                }
                char e = _text[_pos++];
                switch (e)
                {
                    case '"': text.Append('"'); break;
                    case '\\': text.Append('\\'); break;
                    case '/': text.Append('/'); break;
                    case 'b': text.Append('\b'); break;
                    case 'f': text.Append('\f'); break;
                    case 'n': text.Append('\n'); break;
                    case 'r': text.Append('\r'); break;
                    case 't': text.Append('\t'); break;
                    case 'u':
                        text.Append((char)int.Parse(_text.Substring(_pos, 4), NumberStyles.HexNumber));
                        _pos += 4;
                        break;
                    default: throw Error("bad escape");
                }
            }
        }

        private object Number()
        {
            int start = _pos;
            bool integral = true;
            while (_pos < _text.Length && "+-0123456789.eE".IndexOf(_text[_pos]) >= 0)
            {
                if ("+.eE".IndexOf(_text[_pos]) >= 0) integral = false;
                _pos++;
            }
            string token = _text.Substring(start, _pos - start);
            if (token.Length == 0) throw Error("unexpected character");
            if (integral)
            {
                long l;
                if (long.TryParse(token, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return l;
                return ulong.Parse(token, CultureInfo.InvariantCulture);
            }
            double value = double.Parse(token, NumberStyles.Float, CultureInfo.InvariantCulture);
            // .NET Framework and Mono parse "-0.0" as +0.0; the sign matters to the bytes.
            return value == 0 && token[0] == '-' ? -0.0 : value;
        }

        private void Expect(string word)
        {
            if (string.CompareOrdinal(_text, _pos, word, 0, word.Length) != 0) throw Error("expected " + word);
            _pos += word.Length;
        }

        private void Space()
        {
            while (_pos < _text.Length && char.IsWhiteSpace(_text[_pos])) _pos++;
        }

        private FormatException Error(string what)
        {
            return new FormatException("JSON: " + what + " at offset " + _pos);
        }
    }
}
