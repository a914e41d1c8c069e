# Reads C# XML doc comments (the <AssemblyName>.xml the build writes beside each assembly) as plain help text.
# Dot-sourced by New-MamlHelp.ps1.

$script:XmlDocs = @{}

function Get-XmlDocMembers {
    <# The member summaries of an assembly's XML doc file, by doc id (P:Namespace.Type.Property), read once. #>
    param([Parameter(Mandatory)] [System.Reflection.Assembly] $Assembly)
    $path = [IO.Path]::ChangeExtension($Assembly.Location, '.xml')
    if (-not $script:XmlDocs.ContainsKey($path)) {
        $members = @{}
        if (Test-Path -LiteralPath $path) {
            [xml] $doc = Get-Content -LiteralPath $path -Raw
            foreach ($member in $doc.doc.members.member) {
                if ($member['summary']) { $members[$member.name] = $member['summary'] }
            }
        }
        $script:XmlDocs[$path] = $members
    }
    $script:XmlDocs[$path]
}

function ConvertFrom-XmlDocNode {
    <# Flattens a <summary>: <c>/<see>/<paramref> become their text, each <para> a paragraph of its own. #>
    param([System.Xml.XmlNode] $Node)
    $paragraphs = [System.Collections.Generic.List[string]]::new()
    $text = [System.Text.StringBuilder]::new()
    function Visit([System.Xml.XmlNode] $n) {
        foreach ($child in $n.ChildNodes) {
            switch ($child.NodeType) {
                'Text' { [void] $text.Append($child.Value) }
                'Element' {
                    switch ($child.LocalName) {
                        'para' { Flush; Visit $child; Flush }
                        { $_ -in 'see', 'seealso' } {
                            if ($child.InnerText) { [void] $text.Append($child.InnerText) }
                            elseif ($child.GetAttribute('langword')) { [void] $text.Append('$' + $child.GetAttribute('langword')) }
                            else { [void] $text.Append(($child.GetAttribute('cref') -split '[.:]')[-1]) }
                        }
                        { $_ -in 'paramref', 'typeparamref' } { [void] $text.Append($child.GetAttribute('name')) }
                        default { Visit $child }
                    }
                }
            }
        }
    }
    function Flush {
        $paragraph = ($text.ToString() -replace '\s+', ' ').Trim()
        if ($paragraph) { $paragraphs.Add($paragraph) }
        [void] $text.Clear()
    }
    Visit $Node
    Flush
    $paragraphs.ToArray()
}

function Get-XmlDocSummary {
    <# The summary paragraphs of a type (T:) or of the property behind a parameter (P:), searching base types. #>
    param(
        [Parameter(Mandatory)] [type] $Type,
        [string] $Property
    )
    if (-not $Property) {
        $node = (Get-XmlDocMembers $Type.Assembly)["T:$($Type.FullName -replace '\+', '.')"]
        return $(if ($node) { ConvertFrom-XmlDocNode $node })
    }
    # Inherited parameters are documented where they are declared.
    for ($t = $Type; $t; $t = $t.BaseType) {
        $declared = $t.GetProperty($Property, [System.Reflection.BindingFlags] 'Public, Instance, DeclaredOnly, IgnoreCase')
        if ($declared) {
            $node = (Get-XmlDocMembers $t.Assembly)["P:$($t.FullName -replace '\+', '.').$($declared.Name)"]
            return $(if ($node) { ConvertFrom-XmlDocNode $node })
        }
    }
}
