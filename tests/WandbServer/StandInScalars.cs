using GraphQL.Types;
using GraphQLParser.AST;

namespace WandbLaunch.Tests.WandbServer;

/// <summary>
/// W&B's JSONString: JSON carried in a GraphQL string. Inputs must be strings (the SDK always json.dumps them);
/// outputs are written as the resolver gives them: a string (push's runSpec, which the SDK json.loads) or a JSON
/// object (pop's runSpec, which the agent uses as a dict).
/// </summary>
internal sealed class JsonStringScalar : ScalarGraphType
{
    public JsonStringScalar() => Name = "JSONString";

    public override object? ParseLiteral(GraphQLValue value) => value switch
    {
        GraphQLStringValue s => (string)s.Value,
        GraphQLNullValue => null,
        _ => ThrowLiteralConversionError(value),
    };

    public override object? ParseValue(object? value) => value switch
    {
        null => null,
        string s => s,
        _ => ThrowValueConversionError(value),
    };

    public override object? Serialize(object? value) => value;
}

/// <summary>W&B's DateTime: an ISO 8601 string.</summary>
internal sealed class DateTimeScalar : ScalarGraphType
{
    public DateTimeScalar() => Name = "DateTime";

    public override object? ParseLiteral(GraphQLValue value) => value switch
    {
        GraphQLStringValue s => (string)s.Value,
        GraphQLNullValue => null,
        _ => ThrowLiteralConversionError(value),
    };

    public override object? ParseValue(object? value) => value switch
    {
        null => null,
        string s => s,
        _ => ThrowValueConversionError(value),
    };

    public override object? Serialize(object? value) => value switch
    {
        DateTimeOffset d => d.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff"),
        _ => value,
    };
}
