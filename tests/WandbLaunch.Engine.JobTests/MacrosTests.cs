using System.Text.Json.Nodes;
using WandbLaunch.Engine.Specs;
using static WandbLaunch.TestSupport.LaunchAssertions;

namespace WandbLaunch.Engine.JobTests;

public class MacrosTests
{
    private static readonly Macros.Values Values = new("proj", "ent", "run12345", "my-run", "registry/img:abc", "alice");

    private static readonly Dictionary<string, string> AgentEnvironment = new()
    {
        ["HOME_BUCKET"] = "s3://bucket",
        ["REGION"] = "eu-west-1",
    };

    private static string? Env(string name) => AgentEnvironment.TryGetValue(name, out var v) ? v : null;

    [Theory]
    [InlineData("${project_name}", "proj")]
    [InlineData("${entity_name}", "ent")]
    [InlineData("${run_id}", "run12345")]
    [InlineData("${run_name}", "my-run")]
    [InlineData("${image_uri}", "registry/img:abc")]
    [InlineData("${author}", "alice")]
    [InlineData("${REGION}", "eu-west-1")]
    [InlineData("job-${run_id}-${author}", "job-run12345-alice")]
    [InlineData("${HOME_BUCKET}/${project_name}/${run_id}", "s3://bucket/proj/run12345")]
    public void Every_macro_is_replaced(string text, string expected)
    {
        Assert.Equal(expected, Macros.Replace(text, Values, Env));
    }

    [Theory]
    [InlineData("${not_a_macro}")]
    [InlineData("${UNSET_VARIABLE}")]
    [InlineData("$run_id")]
    [InlineData("{run_id}")]
    [InlineData("${ run_id }")]
    [InlineData("${}")]
    [InlineData("plain text")]
    public void Unknown_macros_and_other_text_are_left_as_written(string text)
    {
        Assert.Equal(text, Macros.Replace(text, Values, Env));
    }

    [Fact]
    public void Unknown_macros_stay_beside_known_ones()
    {
        Assert.Equal("run12345-${nope}-eu-west-1", Macros.Replace("${run_id}-${nope}-${REGION}", Values, Env));
    }

    [Fact]
    public void Macros_without_a_value_are_left_as_written()
    {
        var empty = new Macros.Values(null, null, "r1", "n", null, null);
        Assert.Equal("${project_name} ${entity_name} ${image_uri} ${author}",
            Macros.Replace("${project_name} ${entity_name} ${image_uri} ${author}", empty, Env));
    }

    [Fact]
    public void Substitution_recurses_into_maps_and_lists_and_leaves_keys_and_other_values_alone()
    {
        var node = JsonNode.Parse("""
            {
              "${run_id}": "${run_id}",
              "labels": {"run": "${run_id}", "who": "${author}", "nested": [{"image": "${image_uri}"}, "${REGION}", 3, true, null]},
              "args": ["--project", "${project_name}", "--entity=${entity_name}"],
              "count": 2,
              "flag": false
            }
            """);
        var result = Macros.Substitute(node, Values, Env);
        JsonEqual("""
            {
              "${run_id}": "run12345",
              "labels": {"run": "run12345", "who": "alice", "nested": [{"image": "registry/img:abc"}, "eu-west-1", 3, true, null]},
              "args": ["--project", "proj", "--entity=ent"],
              "count": 2,
              "flag": false
            }
            """, result);
        // The input is not changed.
        Assert.Equal("${run_id}", node!["labels"]!["run"]!.GetValue<string>());
    }

    [Fact]
    public void Substituting_null_gives_null()
    {
        Assert.Null(Macros.Substitute(null, Values, Env));
    }

    [Fact]
    public void A_replaced_value_is_not_expanded_again()
    {
        var values = Values with { RunName = "${run_id}" };
        Assert.Equal("${run_id}", Macros.Replace("${run_name}", values, Env));
    }

    // W&B's fill_macros (_project_spec.py) builds the built-in values, then update_dict.update(os.environ): an agent
    // environment variable of the same name wins.
    [Fact]
    public void An_agent_environment_variable_wins_over_a_built_in_macro_of_the_same_name_as_in_wandb_project_spec_fill_macros()
    {
        string? Env(string name) => name switch { "run_id" => "from-env", "author" => "", _ => null };
        Assert.Equal("from-env proj ", Macros.Replace("${run_id} ${project_name} ${author}", Values, Env));
    }

    // W&B's MACRO_REGEX (utils.py) is \$\{(\w+)\}: any run of word characters, a leading digit or a non-ASCII letter included.
    [Theory]
    [InlineData("1ST_BUCKET", "${1ST_BUCKET}/x", "v/x")]
    [InlineData("RÉGION", "${RÉGION}", "v")]
    [InlineData("A-B", "${A-B}", "${A-B}")]
    public void A_macro_name_is_any_run_of_word_characters_as_in_wandb_utils_macro_regex(string variable, string text, string expected)
    {
        Assert.Equal(expected, Macros.Replace(text, Values, name => name == variable ? "v" : null));
    }
}
