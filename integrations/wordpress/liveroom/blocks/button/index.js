/* Liveroom contact button block: plain JS on WordPress's globals, no build step.
 * The block renders on the server ([liveroom_button] with the same options). */
(function (wp) {
	'use strict';
	var el = wp.element.createElement;
	var __ = wp.i18n.__;
	var InspectorControls = wp.blockEditor.InspectorControls;
	var useBlockProps = wp.blockEditor.useBlockProps;
	var c = wp.components;

	function text(props, key, label, help) {
		return el(c.TextControl, {
			label: label,
			help: help,
			value: props.attributes[key],
			onChange: function (v) {
				var a = {};
				a[key] = v;
				props.setAttributes(a);
			}
		});
	}

	wp.blocks.registerBlockType('liveroom/button', {
		edit: function (props) {
			return el('div', useBlockProps({ className: 'liveroom-block-placeholder' }),
				el(InspectorControls, {},
					el(c.PanelBody, { title: __('Button', 'liveroom') },
						text(props, 'text', __('Button text', 'liveroom'), __('Empty uses the text from Settings → Liveroom.', 'liveroom')),
						el(c.SelectControl, {
							label: __('Position', 'liveroom'),
							value: props.attributes.position,
							options: [
								{ label: __('As in the settings', 'liveroom'), value: '' },
								{ label: __('Bottom right', 'liveroom'), value: 'right' },
								{ label: __('Bottom left', 'liveroom'), value: 'left' }
							],
							onChange: function (v) { props.setAttributes({ position: v }); }
						}),
						text(props, 'roomId', __('Room id (optional)', 'liveroom'), __('Requests go into this room of the agent.', 'liveroom')),
						text(props, 'offlineEmail', __('Offline e-mail (optional)', 'liveroom')),
						text(props, 'offlinePage', __('Offline contact page (optional)', 'liveroom'))
					)
				),
				el('p', {}, '💬 ' + __('Liveroom contact button', 'liveroom') + (props.attributes.text ? ': ' + props.attributes.text : '')),
				el('p', { className: 'description' }, __('It floats in a corner of the published page.', 'liveroom'))
			);
		},
		save: function () {
			return null;
		}
	});
}(window.wp));
