namespace WandbLaunch.Engine.Docker;

/// <summary>
/// Reads the progress BuildKit sends through the engine API: each <c>moby.buildkit.trace</c> message is a base64
/// <c>StatusResponse</c> of BuildKit's control API (<c>api/services/control/control.proto</c>), of which only the
/// vertexes (build steps: name, started, error) and their logs matter here. A small reader of the protobuf wire
/// format, so that no protobuf runtime is loaded for four fields.
/// </summary>
public static class BuildKitTrace
{
    /// <summary>A build step as BuildKit names it (e.g. <c>[stage-0 2/5] RUN pip install ...</c>).</summary>
    public sealed record Step(string Digest, string Name, bool Started, bool Completed, bool Cached, string? Error);

    /// <summary>Output of a step: <paramref name="Stream"/> 1 stdout, 2 stderr.</summary>
    public sealed record Log(string Digest, long Stream, byte[] Message);

    public sealed record Status(IReadOnlyList<Step> Steps, IReadOnlyList<Log> Logs);

    /// <summary>Decodes one trace message; throws <see cref="FormatException"/> for bytes that are not one.</summary>
    public static Status Decode(string base64)
    {
        var bytes = Convert.FromBase64String(base64);
        var steps = new List<Step>();
        var logs = new List<Log>();
        var reader = new Reader(bytes);
        while (reader.Next(out var field, out var wireType))
        {
            switch (field, wireType)
            {
                case (1, 2): steps.Add(ReadStep(reader.Bytes())); break;
                case (3, 2): logs.Add(ReadLog(reader.Bytes())); break;
                default: reader.Skip(wireType); break;
            }
        }
        return new Status(steps, logs);
    }

    private static Step ReadStep(ReadOnlyMemory<byte> bytes)
    {
        string digest = "", name = "";
        string? error = null;
        bool started = false, completed = false, cached = false;
        var reader = new Reader(bytes);
        while (reader.Next(out var field, out var wireType))
        {
            switch (field, wireType)
            {
                case (1, 2): digest = reader.String(); break;
                case (3, 2): name = reader.String(); break;
                case (4, 0): cached = reader.Varint() != 0; break;
                case (5, 2): reader.Bytes(); started = true; break;
                case (6, 2): reader.Bytes(); completed = true; break;
                case (7, 2): error = reader.String(); break;
                default: reader.Skip(wireType); break;
            }
        }
        return new Step(digest, name, started, completed, cached, string.IsNullOrEmpty(error) ? null : error);
    }

    private static Log ReadLog(ReadOnlyMemory<byte> bytes)
    {
        string digest = "";
        long stream = 0;
        byte[] message = [];
        var reader = new Reader(bytes);
        while (reader.Next(out var field, out var wireType))
        {
            switch (field, wireType)
            {
                case (1, 2): digest = reader.String(); break;
                case (3, 0): stream = (long)reader.Varint(); break;
                case (4, 2): message = reader.Bytes().ToArray(); break;
                default: reader.Skip(wireType); break;
            }
        }
        return new Log(digest, stream, message);
    }

    private sealed class Reader(ReadOnlyMemory<byte> bytes)
    {
        private int _at;

        public bool Next(out int field, out int wireType)
        {
            field = wireType = 0;
            if (_at >= bytes.Length) return false;
            var key = Varint();
            field = (int)(key >> 3);
            wireType = (int)(key & 7);
            if (field == 0) throw new FormatException("A BuildKit trace message has a field numbered 0.");
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_at >= bytes.Length) throw new FormatException("A BuildKit trace message ends inside a number.");
                var b = bytes.Span[_at++];
                value |= (ulong)(b & 0x7f) << shift;
                if ((b & 0x80) == 0) return value;
            }
            throw new FormatException("A BuildKit trace message has a number longer than 10 bytes.");
        }

        public ReadOnlyMemory<byte> Bytes()
        {
            var length = Varint();
            if (length > (ulong)(bytes.Length - _at)) throw new FormatException("A BuildKit trace message has a field longer than the message.");
            var slice = bytes.Slice(_at, (int)length);
            _at += (int)length;
            return slice;
        }

        public string String() => System.Text.Encoding.UTF8.GetString(Bytes().Span);

        public void Skip(int wireType)
        {
            switch (wireType)
            {
                case 0: Varint(); break;
                case 1: Advance(8); break;
                case 2: Bytes(); break;
                case 5: Advance(4); break;
                default: throw new FormatException($"A BuildKit trace message has wire type {wireType}, which is not in protobuf's format.");
            }
        }

        private void Advance(int count)
        {
            if (count > bytes.Length - _at) throw new FormatException("A BuildKit trace message ends inside a field.");
            _at += count;
        }
    }
}
