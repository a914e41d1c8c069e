# Reads one docs/cmdlets/<Verb-Noun>.md page (format: docs/cmdlets/README.md) into the parts of a command's help
# that a person writes: synopsis, description, examples, notes and related links. Dot-sourced by New-MamlHelp.ps1.

function ConvertFrom-InlineMarkdown {
    <# Help is plain text: `code` loses its backticks, [text](page.md) becomes text, [text](https://…) text (url). #>
    param([string] $Text)
    $Text = [regex]::Replace($Text, '\[([^\]]+)\]\((https?://[^)]+)\)', '$1 ($2)')
    $Text = [regex]::Replace($Text, '\[([^\]]+)\]\([^)]*\)', '$1')
    $Text = [regex]::Replace($Text, '\*\*([^*]+)\*\*', '$1')
    [regex]::Replace($Text, '`([^`]+)`', '$1')
}

function ConvertTo-HelpParagraph {
    <#
    Splits section lines into paragraphs: blank lines separate them, each "- " list item is a paragraph of its own,
    and a fenced block is one paragraph kept verbatim (without its fences).
    #>
    param([string[]] $Lines)
    $paragraphs = [System.Collections.Generic.List[string]]::new()
    $current = [System.Collections.Generic.List[string]]::new()
    $fence = $null
    function Complete {
        if ($current.Count -gt 0) { $paragraphs.Add((ConvertFrom-InlineMarkdown ($current -join ' '))) }
        $current.Clear()
    }
    foreach ($line in $Lines) {
        if ($null -ne $fence) {
            if ($line -match '^\s*```\s*$') { $paragraphs.Add(($fence -join "`n")); $fence = $null }
            else { $fence.Add($line) }
            continue
        }
        if ($line -match '^\s*```') { Complete; $fence = [System.Collections.Generic.List[string]]::new(); continue }
        if ($line -match '^\s*$') { Complete; continue }
        if ($line -match '^\s*[-*] ') { Complete; $current.Add('- ' + ($line -replace '^\s*[-*] ', '').Trim()); continue }
        $current.Add($line.Trim())
    }
    if ($null -ne $fence) { throw 'a ``` fence is not closed' }
    Complete
    $paragraphs.ToArray()
}

function Read-CommandDocPage {
    param([Parameter(Mandatory)] [string] $Path)

    $name = [IO.Path]::GetFileNameWithoutExtension($Path)
    $lines = Get-Content -LiteralPath $Path
    $problems = [System.Collections.Generic.List[string]]::new()
    if ($lines.Count -eq 0 -or $lines[0] -ne "# $name") { $problems.Add("the first line must be '# $name'") }

    # Level-2 headings split the page into sections; level-3 headings split EXAMPLES into examples.
    $sections = [ordered]@{}
    $section = $null
    $inFence = $false
    foreach ($line in ($lines | Select-Object -Skip 1)) {
        if ($line -match '^\s*```') { $inFence = -not $inFence }
        if (-not $inFence -and $line -match '^## (.+?)\s*$') {
            $section = $Matches[1]
            if ($sections.Contains($section)) { $problems.Add("section '## $section' appears twice") }
            $sections[$section] = [System.Collections.Generic.List[string]]::new()
            continue
        }
        if ($null -eq $section) {
            if ($line.Trim()) { $problems.Add("text before the first '## ' section: $line") }
            continue
        }
        $sections[$section].Add($line)
    }

    $known = 'SYNOPSIS', 'DESCRIPTION', 'EXAMPLES', 'NOTES', 'RELATED LINKS'
    foreach ($unknown in $sections.Keys | Where-Object { $_ -notin $known }) {
        $problems.Add("unknown section '## $unknown' (sections: $($known -join ', '); syntax, parameters, inputs and outputs are generated from the cmdlet)")
    }
    foreach ($required in 'SYNOPSIS', 'DESCRIPTION', 'EXAMPLES') {
        if (-not $sections.Contains($required)) { $problems.Add("section '## $required' is missing") }
    }

    $synopsis = @(if ($sections.Contains('SYNOPSIS')) { ConvertTo-HelpParagraph $sections['SYNOPSIS'] })
    if ($sections.Contains('SYNOPSIS') -and $synopsis.Count -ne 1) { $problems.Add('SYNOPSIS must be exactly one paragraph') }

    $examples = [System.Collections.Generic.List[object]]::new()
    if ($sections.Contains('EXAMPLES')) {
        $example = $null
        $inFence = $false
        foreach ($line in $sections['EXAMPLES']) {
            if ($line -match '^\s*```') { $inFence = -not $inFence }
            if (-not $inFence -and $line -match '^### (.+?)\s*$') {
                $example = [pscustomobject]@{ Title = $Matches[1]; Lines = [System.Collections.Generic.List[string]]::new() }
                $examples.Add($example)
                continue
            }
            if ($null -eq $example) {
                if ($line.Trim()) { $problems.Add("EXAMPLES: text before the first '### Example' heading: $line") }
                continue
            }
            $example.Lines.Add($line)
        }
        if ($examples.Count -eq 0) { $problems.Add("EXAMPLES has no '### Example 1: <title>' example") }
    }

    $parsedExamples = foreach ($example in $examples) {
        if ($example.Title -notmatch '^Example \d+: \S') {
            $problems.Add("example heading '### $($example.Title)' must read '### Example <n>: <title>'")
        }
        # The first ```powershell fence is the example's code; everything after it is remarks.
        $start = [array]::FindIndex($example.Lines.ToArray(), [Predicate[string]] { param($l) $l -match '^\s*```powershell\s*$' })
        if ($start -lt 0) {
            $problems.Add("'$($example.Title)' has no ``````powershell code fence")
            continue
        }
        $end = [array]::FindIndex($example.Lines.ToArray(), $start + 1, [Predicate[string]] { param($l) $l -match '^\s*```\s*$' })
        if ($end -lt 0) {
            $problems.Add("'$($example.Title)': the code fence is not closed")
            continue
        }
        $before = $example.Lines.GetRange(0, $start) | Where-Object { $_.Trim() }
        if ($before) { $problems.Add("'$($example.Title)': text before the code fence (put remarks after it)") }
        $code = ($example.Lines.GetRange($start + 1, $end - $start - 1) -join "`n").Trim("`n")
        if (-not $code.Trim()) { $problems.Add("'$($example.Title)' has an empty code fence") }
        $remarks = @()
        try { $remarks = @(ConvertTo-HelpParagraph $example.Lines.GetRange($end + 1, $example.Lines.Count - $end - 1)) }
        catch { $problems.Add("'$($example.Title)': $_") }
        if ($remarks.Count -eq 0) { $problems.Add("'$($example.Title)' has no remarks after the code: say what it does") }
        [pscustomobject]@{ Title = $example.Title; Code = $code; Remarks = $remarks }
    }

    $links = foreach ($line in @($sections['RELATED LINKS']) | Where-Object { $_ -and $_.Trim() }) {
        if ($line -match '^\s*- \[([^\]]+)\]\((https?://[^)]+)\)\s*$') { [pscustomobject]@{ Text = $Matches[1]; Uri = $Matches[2] } }
        elseif ($line -match '^\s*- \[([^\]]+)\]\([^)]*\)\s*$') { [pscustomobject]@{ Text = $Matches[1]; Uri = '' } }
        elseif ($line -match '^\s*- (\S.*?)\s*$') { [pscustomobject]@{ Text = $Matches[1]; Uri = '' } }
        else { $problems.Add("RELATED LINKS: each line must be a '- ' list item: $line") }
    }

    $description = @()
    $notes = @()
    try {
        if ($sections.Contains('DESCRIPTION')) { $description = @(ConvertTo-HelpParagraph $sections['DESCRIPTION']) }
        if ($sections.Contains('NOTES')) { $notes = @(ConvertTo-HelpParagraph $sections['NOTES']) }
    }
    catch { $problems.Add("$_") }
    if ($sections.Contains('DESCRIPTION') -and $description.Count -eq 0) { $problems.Add('DESCRIPTION is empty') }

    [pscustomobject]@{
        Name        = $name
        Path        = $Path
        Synopsis    = $synopsis | Select-Object -First 1
        Description = @($description)
        Examples    = @($parsedExamples)
        Notes       = @($notes)
        Links       = @($links)
        Problems    = @($problems | ForEach-Object { "${Path}: $_" })
    }
}
