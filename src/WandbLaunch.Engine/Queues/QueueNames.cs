using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Text;

namespace WandbLaunch.Engine.Queues;

public static class QueueNames
{
    public const int MaxLength = 64;

    /// <summary>
    /// A queue name: 1–64 characters, no control character, no leading or trailing space, no wildcard (* ? [ ]).
    /// Queue names never become paths or object names, so W&amp;B's free names (spaces, '/', any script) stay allowed.
    /// </summary>
    public static string Validate(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw LaunchException.Invalid("InvalidQueueName", $"A queue name must have 1 to {MaxLength} characters; it was empty.", name);
        }
        if (name.Length > MaxLength)
        {
            throw LaunchException.Invalid("InvalidQueueName",
                $"The queue name {Printable.Quote(name)} has {name.Length} characters; queue names have 1 to {MaxLength}.", name);
        }
        if (name.Any(char.IsControl) || name.Trim().Length != name.Length)
        {
            throw LaunchException.Invalid("InvalidQueueName",
                $"The queue name {Printable.Quote(name)} has leading or trailing space or a control character; remove them.", name);
        }
        if (name.IndexOfAny(['*', '?', '[', ']']) >= 0)
        {
            throw LaunchException.Invalid("InvalidQueueName",
                $"The queue name {Printable.Quote(name)} contains a wildcard character (* ? [ ]); queue names cannot contain them.", name);
        }
        return name;
    }
}
