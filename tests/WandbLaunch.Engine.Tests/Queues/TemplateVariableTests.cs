using System.Text.Json.Nodes;
using WandbLaunch.Engine.Documents;
using WandbLaunch.Engine.Errors;
using WandbLaunch.Engine.Queues;

namespace WandbLaunch.Engine.Tests.Queues;

public class TemplateVariableTests
{
    private static TemplateVariable Variable(string schemaJson, string name = "cpus") =>
        TemplateVariable.FromSchema(name, JsonNode.Parse(schemaJson));

    private static LaunchException BadSchema(string schemaJson, string name = "cpus")
    {
        var e = Assert.ThrowsAny<LaunchException>(() => Variable(schemaJson, name));
        Assert.Equal("InvalidTemplateVariable", e.ErrorId);
        Assert.Equal(name, e.Target);
        return e;
    }

    private static LaunchException BadValue(TemplateVariable variable, JsonNode? value)
    {
        var e = Assert.ThrowsAny<LaunchException>(() => variable.Coerce(value));
        Assert.Equal("InvalidTemplateValue", e.ErrorId);
        Assert.Equal(LaunchErrorCategory.InvalidArgument, e.Category);
        Assert.Equal(variable.Name, e.Target);
        return e;
    }

    [Fact]
    public void Integer_schema_with_bounds_and_default_is_read()
    {
        var v = Variable("""{"type": "integer", "minimum": 1, "maximum": 8, "default": 2, "description": "CPUs"}""");
        Assert.Equal("cpus", v.Name);
        Assert.Equal("integer", v.Type);
        Assert.Equal(1, v.Minimum);
        Assert.Equal(8, v.Maximum);
        Assert.True(v.HasDefault);
        Assert.Equal(2L, v.Default);
        Assert.Equal("CPUs", v.Description);
        Assert.Null(v.Enum);
    }

    [Fact]
    public void String_schema_with_enum_is_read()
    {
        var v = Variable("""{"type": "string", "enum": ["small", "large"]}""", "size");
        Assert.Equal("string", v.Type);
        Assert.Equal(["small", "large"], v.Enum);
        Assert.False(v.HasDefault);
        Assert.Null(v.Default);
    }

    [Fact]
    public void A_bare_type_name_is_shorthand_for_a_schema()
    {
        var v = TemplateVariable.FromSchema("lr", JsonValue.Create("number"));
        Assert.Equal("number", v.Type);
        Assert.Null(v.Minimum);
        Assert.Null(v.Maximum);
    }

    [Fact]
    public void ToSchema_writes_back_what_was_read()
    {
        var schema = JsonNode.Parse("""{"type": "integer", "minimum": 1, "maximum": 8, "default": 2, "description": "CPUs"}""");
        Assert.True(JsonNode.DeepEquals(schema, Variable(schema!.ToJsonString()).ToSchema()));

        var strings = JsonNode.Parse("""{"type": "string", "enum": ["a", "b"], "default": "b"}""");
        Assert.True(JsonNode.DeepEquals(strings, Variable(strings!.ToJsonString(), "s").ToSchema()));
    }

    [Theory]
    [InlineData("""{"type": "boolean"}""")]
    [InlineData("""{"type": "Integer"}""")]
    [InlineData("""{"type": 3}""")]
    [InlineData("""{"minimum": 1}""")]
    [InlineData("""[1, 2]""")]
    [InlineData("""3""")]
    public void Unknown_or_missing_types_are_refused(string schema)
    {
        BadSchema(schema);
    }

    [Fact]
    public void Unknown_schema_keys_are_refused_naming_them_and_the_allowed_ones()
    {
        var e = BadSchema("""{"type": "integer", "maximun": 8}""");
        Assert.Contains("'maximun'", e.Message);
        Assert.Contains("maximum", e.Message);
    }

    [Theory]
    [InlineData("""{"type": "integer", "minimum": 1.5}""")]
    [InlineData("""{"type": "integer", "maximum": "8"}""")]
    [InlineData("""{"type": "number", "minimum": "0"}""")]
    [InlineData("""{"type": "number", "maximum": true}""")]
    [InlineData("""{"type": "number", "maximum": 1e400}""")]
    [InlineData("""{"type": "integer", "minimum": 5, "maximum": 1}""")]
    [InlineData("""{"type": "integer", "enum": ["1"]}""")]
    [InlineData("""{"type": "string", "minimum": 1, "enum": ["a"]}""")]
    [InlineData("""{"type": "string"}""")]
    [InlineData("""{"type": "string", "enum": []}""")]
    [InlineData("""{"type": "string", "enum": ["a", 1]}""")]
    [InlineData("""{"type": "string", "enum": ["a", "a"]}""")]
    [InlineData("""{"type": "string", "enum": "a"}""")]
    [InlineData("""{"type": "integer", "description": 5}""")]
    public void Schemas_with_bad_bounds_enums_or_descriptions_are_refused(string schema)
    {
        BadSchema(schema);
    }

    [Theory]
    [InlineData("""{"type": "integer", "minimum": 1, "maximum": 8, "default": 0}""")]
    [InlineData("""{"type": "integer", "minimum": 1, "maximum": 8, "default": 9}""")]
    [InlineData("""{"type": "integer", "default": 1.5}""")]
    [InlineData("""{"type": "integer", "default": "many"}""")]
    [InlineData("""{"type": "number", "maximum": 1, "default": 1.01}""")]
    [InlineData("""{"type": "string", "enum": ["a", "b"], "default": "c"}""")]
    [InlineData("""{"type": "string", "enum": ["a", "b"], "default": true}""")]
    public void A_default_must_satisfy_its_own_schema(string schema)
    {
        var e = BadSchema(schema);
        Assert.Contains("default", e.Message);
    }

    [Theory]
    [InlineData("1cpu")]
    [InlineData("has space")]
    [InlineData("")]
    [InlineData("dotted.name")]
    public void Variable_names_must_be_identifiers(string name)
    {
        BadSchema("""{"type": "integer"}""", name);
    }

    [Theory]
    [InlineData("_x")]
    [InlineData("gpu-count")]
    [InlineData("N2")]
    public void Identifier_names_with_underscores_and_dashes_are_fine(string name)
    {
        Assert.Equal(name, Variable("""{"type": "integer"}""", name).Name);
    }

    [Fact]
    public void Integer_values_are_coerced_from_numbers_and_numeric_strings()
    {
        var v = Variable("""{"type": "integer", "minimum": 1, "maximum": 8}""");
        Assert.Equal(4L, JsonTree.ToPlain(v.Coerce(JsonValue.Create(4))));
        // --set-var cpus=4 arrives as text.
        var fromText = v.Coerce(JsonValue.Create("4"));
        Assert.Equal("integer", JsonTree.KindOf(fromText));
        Assert.Equal(4L, JsonTree.ToPlain(fromText));
        Assert.Equal(8L, JsonTree.ToPlain(v.Coerce(JsonNode.Parse("8.0"))));
        Assert.Equal(1L, JsonTree.ToPlain(v.Coerce(JsonValue.Create("1"))));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("9")]
    [InlineData("-1")]
    [InlineData("2.5")]
    [InlineData("\"2.5\"")]
    [InlineData("\"four\"")]
    [InlineData("\"\"")]
    [InlineData("true")]
    [InlineData("null")]
    [InlineData("[4]")]
    [InlineData("{\"n\": 4}")]
    public void Integer_values_out_of_range_or_of_the_wrong_kind_are_refused(string json)
    {
        var v = Variable("""{"type": "integer", "minimum": 1, "maximum": 8}""");
        var e = BadValue(v, JsonNode.Parse(json));
        Assert.Contains("cpus", e.Message);
        Assert.Contains("from 1 to 8", e.Message);
    }

    [Fact]
    public void Number_values_keep_fractions_and_respect_inclusive_bounds()
    {
        var v = Variable("""{"type": "number", "minimum": 0, "maximum": 1}""", "lr");
        Assert.Equal(0.25, JsonTree.ToPlain(v.Coerce(JsonValue.Create("0.25"))));
        Assert.Equal("number", JsonTree.KindOf(v.Coerce(JsonValue.Create(0.5))));
        Assert.Equal(0.0, Convert.ToDouble(JsonTree.ToPlain(v.Coerce(JsonValue.Create(0)))));
        Assert.Equal(1.0, Convert.ToDouble(JsonTree.ToPlain(v.Coerce(JsonValue.Create(1)))));
        BadValue(v, JsonValue.Create(1.0001));
        BadValue(v, JsonValue.Create(-0.0001));
        BadValue(v, JsonValue.Create("1e-3x"));
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    [InlineData("1e400")]
    public void Number_values_that_are_not_finite_are_refused(string text)
    {
        BadValue(Variable("""{"type": "number"}""", "lr"), JsonValue.Create(text));
        BadValue(Variable("""{"type": "number", "minimum": 0, "maximum": 1}""", "lr"), JsonValue.Create(text));
    }

    [Theory]
    [InlineData("\"1e30\"")]
    [InlineData("1e30")]
    [InlineData("-1e30")]
    public void Integer_values_too_large_for_a_whole_number_are_refused_not_clamped(string json)
    {
        BadValue(Variable("""{"type": "integer"}"""), JsonNode.Parse(json));
    }

    [Fact]
    public void String_values_must_be_in_the_enum()
    {
        var v = Variable("""{"type": "string", "enum": ["small", "large", "8"]}""", "size");
        Assert.Equal("large", JsonTree.ToPlain(v.Coerce(JsonValue.Create("large"))));
        // A number that spells an allowed value is accepted as that string.
        var fromNumber = v.Coerce(JsonValue.Create(8));
        Assert.Equal("string", JsonTree.KindOf(fromNumber));
        Assert.Equal("8", JsonTree.ToPlain(fromNumber));

        var e = BadValue(v, JsonValue.Create("Large"));
        Assert.Contains("small, large, 8", e.Message);
        BadValue(v, JsonValue.Create(true));
        BadValue(v, null);
        BadValue(v, new JsonArray("small"));
    }
}
