<#
.SYNOPSIS
    Writes the MAML help file (what Get-Help reads) for every cmdlet the module exports.
.DESCRIPTION
    Syntax and parameter metadata (sets, mandatory, position, pipeline input, aliases, types, wildcards, allowed
    values) come from the imported module's Get-Command metadata; parameter descriptions from the C# XML doc
    comments of the properties behind them; outputs from [OutputType]; synopsis, description, examples, notes and
    related links from docs/cmdlets/<Verb-Noun>.md (format: docs/cmdlets/README.md).
    Throws, naming every problem, when a cmdlet has no page, a page has no example, a parameter has no
    description, or a page belongs to no exported cmdlet.
    Run it in a pwsh of its own: it imports the module, which then stays loaded in that process.
#>
param(
    [Parameter(Mandatory)] [string] $DocsPath,
    [Parameter(Mandatory)] [string] $OutputPath,
    [string] $ModulePath = (Join-Path $PSScriptRoot '../out/module/WandbLaunch/WandbLaunch.psd1')
)
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest
. (Join-Path $PSScriptRoot 'help/Read-CommandDocPage.ps1')
. (Join-Path $PSScriptRoot 'help/Read-XmlDocComment.ps1')

$ShouldProcessParameters = [ordered]@{
    WhatIf  = 'Shows what would happen if the cmdlet runs. The cmdlet is not run.'
    Confirm = 'Prompts you for confirmation before running the cmdlet.'
}

function Get-TypeDisplayName([type] $Type) {
    if ($Type.IsArray) { return (Get-TypeDisplayName $Type.GetElementType()) + '[]' }
    $underlying = [Nullable]::GetUnderlyingType($Type)
    if ($underlying) { return Get-TypeDisplayName $underlying }
    if ($Type.IsGenericType) {
        $arguments = $Type.GetGenericArguments() | ForEach-Object { Get-TypeDisplayName $_ }
        return ($Type.Name -replace '`\d+$') + '[' + ($arguments -join ', ') + ']'
    }
    $Type.Name
}

function Get-AllowedValues([System.Management.Automation.ParameterMetadata] $Parameter) {
    $set = $Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | Select-Object -First 1
    if ($set) { return $set.ValidValues }
    $type = $Parameter.ParameterType
    if ($type.IsArray) { $type = $type.GetElementType() }
    if ($type.IsEnum) { return [enum]::GetNames($type) }
}

function Get-ParameterFacts {
    <# One parameter's help attributes, over the sets it belongs to (or within one set when -SetName is given). #>
    param([System.Management.Automation.ParameterMetadata] $Parameter, [string] $SetName)
    $sets = @($Parameter.ParameterSets.GetEnumerator() | Where-Object {
            -not $SetName -or $_.Key -in $SetName, '__AllParameterSets' } | ForEach-Object Value)
    $positions = @($sets | Where-Object Position -ge 0 | ForEach-Object Position | Sort-Object -Unique)
    $pipeline = @(
        if ($sets | Where-Object ValueFromPipelineByPropertyName) { 'ByPropertyName' }
        if ($sets | Where-Object ValueFromPipeline) { 'ByValue' }
    )
    [pscustomobject]@{
        Name       = $Parameter.Name
        Required   = $sets.Count -gt 0 -and -not ($sets | Where-Object { -not $_.IsMandatory })
        Position   = if ($positions.Count -gt 0) { [string] $positions[0] } else { 'named' }
        Pipeline   = if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' }
        Globbing   = [bool] ($Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
        Aliases    = if ($Parameter.Aliases.Count) { $Parameter.Aliases -join ', ' } else { 'none' }
        Type       = $Parameter.ParameterType
        IsSwitch   = $Parameter.SwitchParameter
        Allowed    = @(Get-AllowedValues $Parameter)
    }
}

function Get-CommandParameters($Command) {
    <# The parameters help documents: the cmdlet's own, and -WhatIf/-Confirm; not the common parameters. #>
    $common = [System.Management.Automation.Cmdlet]::CommonParameters
    $Command.Parameters.Values | Where-Object { $_.Name -notin $common -and $_.Name -ne 'UseTransaction' }
}

function Get-ParameterDescription($Command, [string] $Name) {
    if ($ShouldProcessParameters.Contains($Name)) { return $ShouldProcessParameters[$Name] }
    Get-XmlDocSummary -Type $Command.ImplementingType -Property $Name
}

function Get-SyntaxOrder($Command, [string] $SetName) {
    <# As Get-Command -Syntax orders them: positional by position, then mandatory, then the rest, then -WhatIf/-Confirm. #>
    $set = $Command.ParameterSets | Where-Object Name -eq $SetName
    $declared = @($set.Parameters | ForEach-Object Name)
    Get-CommandParameters $Command | Where-Object Name -in $declared | Sort-Object -Stable -Property @(
        @{ Expression = { $ShouldProcessParameters.Contains($_.Name) } }
        @{ Expression = { $f = Get-ParameterFacts $_ $SetName; if ($f.Position -eq 'named') { [int]::MaxValue } else { [int] $f.Position } } }
        @{ Expression = { -not (Get-ParameterFacts $_ $SetName).Required } }
        @{ Expression = { $declared.IndexOf($_.Name) } }
    )
}

function Get-InputTypes($Command) {
    $byValue = [ordered]@{}
    $byName = [System.Collections.Generic.List[string]]::new()
    foreach ($parameter in Get-CommandParameters $Command) {
        $sets = $parameter.ParameterSets.Values
        if ($sets | Where-Object ValueFromPipeline) {
            # Keyed by the Type itself: our types live in the module's private load context, where [type] 'Name' cannot find them.
            $key = $parameter.ParameterType
            if (-not $byValue.Contains($key)) { $byValue[$key] = [System.Collections.Generic.List[string]]::new() }
            $byValue[$key].Add("-$($parameter.Name)")
        }
        if ($sets | Where-Object ValueFromPipelineByPropertyName) {
            $byName.Add($(if ($parameter.Aliases.Count) { "$($parameter.Name) (or $($parameter.Aliases -join ', '))" } else { $parameter.Name }))
        }
    }
    foreach ($type in $byValue.Keys) {
        [pscustomobject]@{ Type = $type.FullName; Description = "You can pipe $(Get-TypeDisplayName $type) values to $($byValue[$type] -join ', ')." }
    }
    if ($byName.Count) {
        [pscustomobject]@{
            Type        = 'System.Management.Automation.PSObject'
            Description = "You can pipe objects with properties named $($byName -join ', '); each binds to the parameter of the same name."
        }
    }
    if (-not $byValue.Count -and -not $byName.Count) {
        [pscustomobject]@{ Type = 'None'; Description = "You can't pipe objects to this cmdlet." }
    }
}

function Get-ReturnTypes($Command) {
    foreach ($output in $Command.OutputType) {
        if ($output.Type -eq [void]) {
            [pscustomobject]@{ Type = 'None'; Description = 'This cmdlet returns no output.' }
            continue
        }
        $summary = if ($output.Type) { Get-XmlDocSummary -Type $output.Type }
        [pscustomobject]@{ Type = $(if ($output.Type) { $output.Type.FullName } else { $output.Name }); Description = $summary -join ' ' }
    }
}

# --- writing MAML ---------------------------------------------------------------------------------------------------

$Maml = 'http://schemas.microsoft.com/maml/2004/10'
$CommandNs = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
$Dev = 'http://schemas.microsoft.com/maml/dev/2004/10'

function Write-Paragraphs([System.Xml.XmlWriter] $Writer, [string[]] $Paragraphs) {
    $Writer.WriteStartElement('maml', 'description', $Maml)
    foreach ($paragraph in @($Paragraphs | Where-Object { $_ })) { $Writer.WriteElementString('maml', 'para', $Maml, $paragraph) }
    $Writer.WriteEndElement()
}

function Write-Parameter([System.Xml.XmlWriter] $Writer, $Facts, [string[]] $Description, [switch] $InSyntax) {
    $Writer.WriteStartElement('command', 'parameter', $CommandNs)
    $Writer.WriteAttributeString('required', $Facts.Required.ToString().ToLowerInvariant())
    $Writer.WriteAttributeString('variableLength', $Facts.Type.IsArray.ToString().ToLowerInvariant())
    $Writer.WriteAttributeString('globbing', $Facts.Globbing.ToString().ToLowerInvariant())
    $Writer.WriteAttributeString('pipelineInput', $Facts.Pipeline)
    $Writer.WriteAttributeString('position', $Facts.Position)
    $Writer.WriteAttributeString('aliases', $Facts.Aliases)
    $Writer.WriteElementString('maml', 'name', $Maml, $Facts.Name)
    Write-Paragraphs $Writer $Description
    if ($Facts.Allowed.Count -gt 0) {
        $Writer.WriteStartElement('command', 'parameterValueGroup', $CommandNs)
        foreach ($value in $Facts.Allowed) {
            $Writer.WriteStartElement('command', 'parameterValue', $CommandNs)
            $Writer.WriteAttributeString('required', 'false')
            $Writer.WriteAttributeString('variableLength', 'false')
            $Writer.WriteString($value)
            $Writer.WriteEndElement()
        }
        $Writer.WriteEndElement()
    }
    # A switch takes no value: in syntax it shows as [-Name], in the parameter list as -Name [<SwitchParameter>].
    if (-not ($InSyntax -and $Facts.IsSwitch)) {
        $Writer.WriteStartElement('command', 'parameterValue', $CommandNs)
        $Writer.WriteAttributeString('required', (-not $Facts.IsSwitch).ToString().ToLowerInvariant())
        $Writer.WriteAttributeString('variableLength', $Facts.Type.IsArray.ToString().ToLowerInvariant())
        $Writer.WriteString((Get-TypeDisplayName $Facts.Type))
        $Writer.WriteEndElement()
    }
    $Writer.WriteStartElement('dev', 'type', $Dev)
    $Writer.WriteElementString('maml', 'name', $Maml, $Facts.Type.FullName)
    $Writer.WriteEndElement()
    if ($Facts.IsSwitch) { $Writer.WriteElementString('dev', 'defaultValue', $Dev, 'False') }
    $Writer.WriteEndElement()
}

function Write-TypeList([System.Xml.XmlWriter] $Writer, [string] $ListName, [string] $ItemName, $Items) {
    $Writer.WriteStartElement('command', $ListName, $CommandNs)
    foreach ($item in $Items) {
        $Writer.WriteStartElement('command', $ItemName, $CommandNs)
        $Writer.WriteStartElement('dev', 'type', $Dev)
        $Writer.WriteElementString('maml', 'name', $Maml, $item.Type)
        $Writer.WriteEndElement()
        Write-Paragraphs $Writer @($item.Description)
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()
}

function Write-CommandHelp([System.Xml.XmlWriter] $Writer, $Command, $Page, [hashtable] $Descriptions) {
    $Writer.WriteStartElement('command', 'command', $CommandNs)
    $Writer.WriteAttributeString('xmlns', 'maml', $null, $Maml)
    $Writer.WriteAttributeString('xmlns', 'dev', $null, $Dev)

    $Writer.WriteStartElement('command', 'details', $CommandNs)
    $Writer.WriteElementString('command', 'name', $CommandNs, $Command.Name)
    $Writer.WriteElementString('command', 'verb', $CommandNs, $Command.Verb)
    $Writer.WriteElementString('command', 'noun', $CommandNs, $Command.Noun)
    Write-Paragraphs $Writer @($Page.Synopsis)
    $Writer.WriteEndElement()
    Write-Paragraphs $Writer $Page.Description

    $Writer.WriteStartElement('command', 'syntax', $CommandNs)
    $sets = @($Command.ParameterSets | Sort-Object -Stable { -not $_.IsDefault })
    foreach ($set in $sets) {
        $Writer.WriteStartElement('command', 'syntaxItem', $CommandNs)
        $Writer.WriteElementString('maml', 'name', $Maml, $Command.Name)
        foreach ($parameter in Get-SyntaxOrder $Command $set.Name) {
            Write-Parameter $Writer (Get-ParameterFacts $parameter $set.Name) $Descriptions[$parameter.Name] -InSyntax
        }
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteStartElement('command', 'parameters', $CommandNs)
    foreach ($parameter in Get-CommandParameters $Command | Sort-Object Name) {
        Write-Parameter $Writer (Get-ParameterFacts $parameter) $Descriptions[$parameter.Name]
    }
    $Writer.WriteEndElement()

    Write-TypeList $Writer 'inputTypes' 'inputType' @(Get-InputTypes $Command)
    Write-TypeList $Writer 'returnValues' 'returnValue' @(Get-ReturnTypes $Command)

    if ($Page.Notes.Count -gt 0) {
        $Writer.WriteStartElement('maml', 'alertSet', $Maml)
        $Writer.WriteStartElement('maml', 'alert', $Maml)
        foreach ($paragraph in $Page.Notes) { $Writer.WriteElementString('maml', 'para', $Maml, $paragraph) }
        $Writer.WriteEndElement()
        $Writer.WriteEndElement()
    }

    $Writer.WriteStartElement('command', 'examples', $CommandNs)
    foreach ($example in $Page.Examples) {
        $Writer.WriteStartElement('command', 'example', $CommandNs)
        $Writer.WriteElementString('maml', 'title', $Maml, "--------- $($example.Title) ---------")
        $Writer.WriteElementString('dev', 'code', $Dev, $example.Code)
        $Writer.WriteStartElement('dev', 'remarks', $Dev)
        foreach ($paragraph in $example.Remarks) { $Writer.WriteElementString('maml', 'para', $Maml, $paragraph) }
        # Get-Help prints the next example's title right under the last remark unless an empty paragraph ends it.
        $Writer.WriteElementString('maml', 'para', $Maml, '')
        $Writer.WriteEndElement()
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteStartElement('command', 'relatedLinks', $CommandNs)
    foreach ($link in $Page.Links) {
        $Writer.WriteStartElement('maml', 'navigationLink', $Maml)
        $Writer.WriteElementString('maml', 'linkText', $Maml, $link.Text)
        $Writer.WriteElementString('maml', 'uri', $Maml, $link.Uri)
        $Writer.WriteEndElement()
    }
    $Writer.WriteEndElement()

    $Writer.WriteEndElement()
}

# --- main -----------------------------------------------------------------------------------------------------------

$module = Import-Module $ModulePath -Force -PassThru
$commands = @($module.ExportedCmdlets.Values | Sort-Object Name)
$problems = [System.Collections.Generic.List[string]]::new()

$pages = @{}
foreach ($file in Get-ChildItem -LiteralPath $DocsPath -Filter '*-*.md') {
    if ($file.BaseName -notin $commands.Name) { $problems.Add("$($file.FullName): there is no exported cmdlet $($file.BaseName)") }
    else { $pages[$file.BaseName] = Read-CommandDocPage $file.FullName }
}

$descriptions = @{}
foreach ($command in $commands) {
    $page = $pages[$command.Name]
    if (-not $page) { $problems.Add("$($command.Name) has no help page: write $(Join-Path $DocsPath "$($command.Name).md")") }
    elseif ($page.Problems) { $problems.AddRange([string[]] $page.Problems) }
    $descriptions[$command.Name] = @{}
    foreach ($parameter in Get-CommandParameters $command) {
        $text = @(Get-ParameterDescription $command $parameter.Name)
        if (-not ($text -join '').Trim()) {
            $problems.Add("$($command.Name) -$($parameter.Name) has no description: write a /// <summary> on the property behind it")
        }
        $descriptions[$command.Name][$parameter.Name] = $text
    }
}
if ($problems.Count -gt 0) {
    $problems | ForEach-Object { [Console]::Error.WriteLine("  $_") }
    throw "Cannot write the help file: $($problems.Count) problem(s), listed above."
}

$directory = Split-Path -Parent $OutputPath
if ($directory) { New-Item -ItemType Directory -Path $directory -Force | Out-Null }
$settings = [System.Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [System.Text.UTF8Encoding]::new($false) }
$writer = [System.Xml.XmlWriter]::Create($OutputPath, $settings)
try {
    $writer.WriteStartDocument()
    $writer.WriteStartElement('helpItems', 'http://msh')
    $writer.WriteAttributeString('schema', 'maml')
    foreach ($command in $commands) {
        Write-CommandHelp $writer $command $pages[$command.Name] $descriptions[$command.Name]
    }
    $writer.WriteEndElement()
    $writer.WriteEndDocument()
}
finally {
    $writer.Dispose()
}
# Every exported cmdlet has exactly one page (checked above); docs/cmdlets also holds README.md, the pages' format.
Write-Host "Help for all $($commands.Count) exported cmdlets (one docs/cmdlets page each): $OutputPath"
